import Foundation
import JSON
import Testing

@Suite(.serialized) struct ManagerRestartTests {
    @Test func gatewayAnswers503WhileTheManagerIsDownThenRecovers() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[{"phone_number":"15559990001"},{"phone_number":"15559990002"}]}"#)

        stack.killManager()
        var sawUnavailable = false
        for _ in 0..<50 {
            let response = try await stack.client.request("GET", "/v1/campaigns/\(id)")
            if response.status == 503 {
                sawUnavailable = true
                #expect(response.header("Retry-After") == "1")
                #expect(response.errorCode == "service_unavailable")
                break
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(sawUnavailable)
        #expect(try await stack.client.request("GET", "/readyz", key: nil).status == 503)
        #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)

        try await stack.startManager()
        var recovered: HTTPResult?
        for _ in 0..<100 {
            let response = try await stack.client.request("GET", "/v1/campaigns/\(id)")
            if response.status == 200 {
                recovered = response
                break
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let campaign = try #require(recovered?.json)
        #expect(campaign["contact_counts"]?["pending"] == .int(2))
        #expect(try await stack.client.request("GET", "/readyz", key: nil).status == 200)
    }

    @Test func everyAcknowledgedUploadSurvivesKillNine() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        var acknowledged = 0
        for batch in 0..<10 {
            let body = #"{"contacts":["# + phoneNumbers(100, block: 60 + batch).map { #"{"phone_number":"\#($0)"}"# }.joined(separator: ",") + "]}"
            let response = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: body)
            if response.status == 201 { acknowledged += 100 }
        }
        stack.killManager()
        try await stack.startManager()
        var count: JSONValue?
        for _ in 0..<100 {
            let response = try await stack.client.request("GET", "/v1/campaigns/\(id)")
            if response.status == 200 {
                count = response.json?["contact_counts"]?["total"]
                break
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(count == .int(acknowledged))
    }
}

@Suite struct BackupTests {
    @Test func onlineBackupRestoresEverything() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(500), to: id)
        let copy = temporaryDirectory("backup").appendingPathComponent("rymi.sqlite")
        let backup = Process()
        backup.executableURL = binDirectory.appendingPathComponent("rymi-manager")
        backup.arguments = ["--backup", copy.path]
        backup.environment = ProcessInfo.processInfo.environment.merging(["RYMI_DATA_DIR": stack.dataDirectory.path]) { $1 }
        try backup.run()
        #expect(backup.awaitExit() == 0)
        // Restore: a new manager on the copy serves the same campaign.
        let restored = try ServiceProcess("rymi-manager", environment: ["RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_DATA_DIR": copy.deletingLastPathComponent().path])
        defer { restored.stop() }
        let port = try await restored.listeningPort()
        let gateway = try ServiceProcess("rymi-gateway", environment: ["RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_ADMIN_ADDR": "127.0.0.1:0", "RYMI_MANAGER_ADDR": "127.0.0.1:\(port)", "RYMI_API_KEYS": Keys.all])
        defer { gateway.stop() }
        let client = HTTPClient(port: try await gateway.listeningPort())
        _ = try await gateway.waitForEvent("rpc_connected")
        let campaign = try await client.request("GET", "/v1/campaigns/\(id)")
        #expect(campaign.json?["contact_counts"]?["total"] == .int(500))
    }
}
