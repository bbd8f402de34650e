import Foundation
import JSON
import Testing

/// The dashboard at `/` and `/app/`: served under its policy, and driven in a real browser.
@Suite struct DashboardTests {
    static let root = OpenAPITests.root

    @Test func thePageIsServedUnderAPolicyThatRunsOnlyItsOwnFiles() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        for path in ["/", "/app/"] {
            let page = try await stack.client.request("GET", path, key: nil)
            #expect(page.status == 200 && page.header("Content-Type") == "text/html; charset=utf-8", "\(path): \(page.status)")
            let policy = page.header("Content-Security-Policy") ?? ""
            #expect(policy.hasPrefix("default-src 'self'") && !policy.contains("unsafe"), "\(policy)")
            #expect(page.header("X-Content-Type-Options") == "nosniff" && page.header("X-Frame-Options") == "DENY")
            // No inline script, no inline handler: every script is a file of ours.
            let html = page.text
            let scripts = html.components(separatedBy: "<script").dropFirst()
            #expect(!scripts.isEmpty && scripts.allSatisfy { $0.hasPrefix(" src=\"/app/") && $0.contains("></script>") })
            #expect(html.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil)
        }
        let script = try await stack.client.request("GET", "/app/app.js", key: nil)
        #expect(script.status == 200 && script.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(!script.text.contains("innerHTML") && !script.text.contains("insertAdjacentHTML") && !script.text.contains("eval("))
        // Revalidated by its ETag.
        let etag = try #require(script.header("ETag"))
        let again = try await stack.client.request("GET", "/app/app.js", key: nil, headers: [("If-None-Match", etag)])
        #expect(again.status == 304 && again.body.isEmpty)
        #expect(try await stack.client.request("GET", "/app", key: nil).header("Location") == "/app/")
        let post = try await stack.client.request("POST", "/app/", key: nil, json: "{}")
        #expect(post.status == 405 && post.header("Allow") == "GET, HEAD")
        // What is served is the files in Sources/Gateway/Dashboard, as they are.
        for (path, file) in [("/", "index.html"), ("/app/app.js", "app.js"), ("/app/app.css", "app.css")] {
            let written = try Data(contentsOf: Self.root.appendingPathComponent("Sources/Gateway/Dashboard/\(file)"))
            #expect(try await stack.client.request("GET", path, key: nil).body == Array(written), "\(path)")
        }
    }

    /// Headless Chromium (Debian's, through Selenium from PyPI) signs in, creates a campaign,
    /// uploads a CSV with a markup variable, starts it and watches it complete, then uses the
    /// Do-Not-Call list and a phone-width screen. Screenshots go to .build/test-output/dashboard.
    @Test func aBrowserRunsACampaignFromTheDashboard() async throws {
        let stack = try await Stack.start(StackOptions.dialing())
        defer { stack.stop() }
        let screenshots = Self.root.appendingPathComponent(".build/test-output/dashboard").path
        let script = Self.root.appendingPathComponent("Tests/SystemTests/Scripts/dashboard_browser.py").path
        let run = try await runTool(["python3", script, "http://127.0.0.1:\(stack.client.port)", Keys.acme, screenshots, middayZone,
                                     phoneNumbers(6).joined(separator: ","), "+" + phoneNumbers(1, block: 9)[0]])
        let text = String(decoding: run.output, as: UTF8.self)
        print(text)
        #expect(run.status == 0 && text.contains("dashboard ok"), "\(text.suffix(3000))")
        let calls = try await stack.simulatorCalls().calls
        #expect(calls.count == 6, "the simulator got \(calls.count) calls")
    }
}
