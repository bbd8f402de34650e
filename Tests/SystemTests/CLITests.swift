import Foundation
import Glibc
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

    /// A create whose answer is lost on the way: the command sends it again under the same
    /// Idempotency-Key and gets the campaign the first one made, not a second.
    @Test func aLostAnswerIsRetriedUnderTheSameKeyAndDoesNotCreateTwice() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let proxy = try FirstAnswerDroppingProxy(to: stack.client.port)
        defer { proxy.stop() }
        let created = try await rymi(nil, ["--json", "campaigns", "create", "--name", "Once", "--agent-id", "agent_1"],
                                     environment: ["RYMI_URL=http://127.0.0.1:\(proxy.port)", "RYMI_API_KEY=\(Keys.acme)"])
        #expect(created.status == 0, "\(created)")
        #expect(proxy.connections >= 2, "the first answer was not dropped")
        let id = try JSONParser.parse(Array(created.out.utf8))["campaign_id"]?.stringValue
        let campaigns = try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue ?? []
        #expect(campaigns.count == 1 && campaigns.first?["id"]?.stringValue == id, "\(campaigns)")
    }
}

/// Passes HTTP to the gateway, except the first answer, which it reads and drops (closing the
/// client's connection): an answer lost after the work was done.
final class FirstAnswerDroppingProxy: @unchecked Sendable {
    private let lock = NSLock()
    private var listener: RawListener!
    private var accepted = 0

    var port: Int { listener.port }
    var connections: Int { lock.withLock { accepted } }

    init(to gatewayPort: Int) throws {
        listener = try RawListener { [unowned self] client in
            let first = lock.withLock { () -> Bool in
                accepted += 1
                return accepted == 1
            }
            guard let gateway = try? HTTPClient.connect(port: gatewayPort, timeout: 30) else {
                close(client)
                return
            }
            Thread.detachNewThread { AnswerCuttingRelay.pump(from: client, to: gateway) }
            if first {
                // The gateway's answer arrives (the work is done), and goes nowhere.
                var buffer = [UInt8](repeating: 0, count: 65536)
                _ = recv(gateway, &buffer, buffer.count, 0)
            } else {
                AnswerCuttingRelay.pump(from: gateway, to: client)
            }
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(gateway, Int32(SHUT_RDWR))
            close(client)
            close(gateway)
        }
    }

    func stop() { listener.stop() }
}
