import Foundation
import JSON
import Testing

/// The `rymi` command against a real stack: what a user types, what they read, how it exits.
@Suite struct CLITests {
    /// Runs `rymi` with `arguments` against `stack` (or `environment` as given); its status, standard output and error.
    func rymi(_ stack: Stack?, _ arguments: [String], environment: [String]? = nil) async throws -> (status: Int32, out: String, err: String) {
        let variables = environment ?? ["RYMI_URL=http://127.0.0.1:\(stack!.client.port)", "RYMI_API_KEY=\(Keys.acme)"]
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: errors) }
        // Standard error goes to a file, standard output comes back.
        let command = (variables + [binDirectory.appendingPathComponent("rymi").path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let (status, output) = try await runTool(["sh", "-c", "env -i \(command) 2>'\(errors.path)'"], separateErrors: true)
        let err = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        return (status, String(decoding: output, as: UTF8.self), err)
    }

    @Test func aCampaignFromCreateToCompletedFromTheShell() async throws {
        let stack = try await Stack.start(StackOptions.dialing())
        defer { stack.stop() }
        let created = try await rymi(stack, ["--json", "campaigns", "create", "--name", "From the shell", "--agent-id", "agent_1",
                                             "--from", "14155550100", "--timezone", middayZone])
        #expect(created.status == 0, "\(created.err)")
        let id = try #require(try? JSONParser.parse(Array(created.out.utf8))["campaign_id"]?.stringValue)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-cli-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: file) }
        try ("phone,name\n" + phoneNumbers(12, block: 5).enumerated().map { "\($1),Customer \($0)\n" }.joined()).write(to: file, atomically: true, encoding: .utf8)
        let uploaded = try await rymi(stack, ["contacts", "upload", id, file.path])
        #expect(uploaded.status == 0 && uploaded.out == "inserted 12, skipped 0 duplicates\n", "\(uploaded)")
        let started = try await rymi(stack, ["campaigns", "start", id])
        #expect(started.status == 0 && started.out.hasPrefix("started \(id): 12 to call"), "\(started)")
        let watched = try await rymi(stack, ["watch", id, "--interval", "0.2"])
        #expect(watched.status == 0 && watched.out.split(separator: "\n").last?.contains("completed  [████████████████████] 100%") == true, "\(watched)")
        let listed = try await rymi(stack, ["--json", "campaigns", "list"])
        #expect(try JSONParser.parse(Array(listed.out.utf8)).arrayValue?.contains { $0["id"]?.stringValue == id } == true)
        let shown = try await rymi(stack, ["campaigns", "show", id])
        #expect(shown.out.hasPrefix("\(id)  completed  From the shell  12 contacts"), "\(shown)")
    }

    @Test func failuresSayWhyAndExitNonZero() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let missing = try await rymi(stack, ["campaigns", "start", "cmp_nope"])
        #expect(missing.status == 1 && missing.err.contains("not found") && missing.err.contains("HTTP 404"), "\(missing)")
        let invalid = try await rymi(stack, ["campaigns", "create", "--name", "x", "--agent-id", "bad agent"])
        #expect(invalid.status == 1 && invalid.err.contains("agent_id"), "\(invalid)")
        let usage = try await rymi(stack, ["campaigns", "launch", "x"])
        #expect(usage.status == 2 && usage.err.contains("usage: rymi"), "\(usage)")
        let noKey = try await rymi(nil, ["campaigns", "list"], environment: ["RYMI_URL=http://127.0.0.1:\(stack.client.port)"])
        #expect(noKey.status == 1 && noKey.err.contains("RYMI_API_KEY"), "\(noKey)")
        let wrongKey = try await rymi(nil, ["campaigns", "list"], environment: ["RYMI_URL=http://127.0.0.1:\(stack.client.port)", "RYMI_API_KEY=nope"])
        #expect(wrongKey.status == 1 && wrongKey.err.contains("HTTP 401"), "\(wrongKey)")
        let unreachable = try await rymi(nil, ["campaigns", "list"], environment: ["RYMI_URL=http://127.0.0.1:1", "RYMI_API_KEY=k"])
        #expect(unreachable.status == 1 && unreachable.err.contains("could not reach"), "\(unreachable)")
    }
}
