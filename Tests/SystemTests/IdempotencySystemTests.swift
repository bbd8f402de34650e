import Foundation
import Glibc
import JSON
import Testing

/// `Idempotency-Key` on every `POST`, through real processes.
@Suite struct IdempotencySystemTests {
    static let campaignBody = #"{"name":"Spring renewals","agent_id":"agent_42"}"#

    func post(_ stack: Stack, _ path: String, key idempotencyKey: String?, account: String = Keys.acme, json: String? = nil,
              contentType: String? = nil) async throws -> HTTPResult {
        var headers: [(String, String)] = []
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        return try await stack.client.request("POST", path, key: account, json: json, headers: headers)
    }

    @Test func aRetriedCreateGetsTheFirstAnswerAndMakesOneCampaign() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let first = try await post(stack, "/v1/campaigns", key: "create-1", json: Self.campaignBody)
        #expect(first.status == 201 && first.header("Idempotent-Replayed") == nil, "\(first.text)")
        let again = try await post(stack, "/v1/campaigns", key: "create-1", json: Self.campaignBody)
        #expect(again.status == 201 && again.header("Idempotent-Replayed") == "true")
        #expect(again.json == first.json && again.header("Location") == first.header("Location"))
        let campaigns = try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue ?? []
        #expect(campaigns.count == 1)
        // Without a key, or with another, a create is a new one.
        #expect(try await post(stack, "/v1/campaigns", key: nil, json: Self.campaignBody).json?["campaign_id"] != first.json?["campaign_id"])
        #expect(try await post(stack, "/v1/campaigns", key: "create-2", json: Self.campaignBody).header("Idempotent-Replayed") == nil)
        #expect(try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue?.count == 3)
    }

    @Test func aKeyUsedWithAnotherRequestIsRefused() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        #expect(try await post(stack, "/v1/campaigns", key: "k", json: Self.campaignBody).status == 201)
        let otherBody = try await post(stack, "/v1/campaigns", key: "k", json: #"{"name":"Other","agent_id":"agent_42"}"#)
        #expect(otherBody.status == 422 && otherBody.json?["error"]?["code"] == .string("idempotency_key_reused"), "\(otherBody.text)")
        let otherRoute = try await post(stack, "/v1/dnc", key: "k", json: #"{"phone_numbers":["15552000001"]}"#)
        #expect(otherRoute.status == 422 && otherRoute.json?["error"]?["code"] == .string("idempotency_key_reused"))
        #expect(try await stack.client.request("GET", "/v1/dnc").json?["phone_numbers"] == .array([]))
        // Keys are each account's own.
        let globex = try await post(stack, "/v1/campaigns", key: "k", account: Keys.globex, json: Self.campaignBody)
        #expect(globex.status == 201 && globex.header("Idempotent-Replayed") == nil)
        // A malformed key is refused before anything is done.
        let spaced = try await post(stack, "/v1/campaigns", key: "has space", json: Self.campaignBody)
        #expect(spaced.status == 400 && spaced.json?["error"]?["code"] == .string("invalid_idempotency_key"))
        let long = try await post(stack, "/v1/campaigns", key: String(repeating: "k", count: 256), json: Self.campaignBody)
        #expect(long.status == 400)
        #expect(try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue?.count == 1)
    }

    /// A refused request records nothing: its retry is judged afresh.
    @Test func aRefusedRequestIsNotRecorded() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let invalid = try await post(stack, "/v1/campaigns", key: "r", json: #"{"name":"","agent_id":"agent_42"}"#)
        #expect(invalid.status == 422 && invalid.json?["error"]?["code"] == .string("validation_failed"))
        let id = try await stack.createCampaign()
        let early = try await post(stack, "/v1/campaigns/\(id)/pause", key: "p")
        #expect(early.status == 409)
        try await stack.upload(phoneNumbers(1), to: id)
        #expect(try await post(stack, "/v1/campaigns/\(id)/start", key: "s").status == 200)
        let paused = try await post(stack, "/v1/campaigns/\(id)/pause", key: "p")
        #expect(paused.status == 200 && paused.header("Idempotent-Replayed") == nil, "\(paused.text)")
    }

    /// Each `POST` of the API, sent twice with a key: the second answer is the first, marked, and
    /// the manager recorded each in its effect's own write.
    @Test func everyPostReplaysItsFirstAnswer() async throws {
        // Calls that last: the campaign is still running when it is paused.
        let stack = try await Stack.start(.dialing(simulator: ["RYMI_SIM_TALK_MS": "60000"]))
        defer { stack.stop() }
        func twice(_ path: String, json: String? = nil, contentType: String? = nil, expecting status: Int) async throws -> HTTPResult {
            let key = UUID().uuidString
            let first = try await post(stack, path, key: key, json: json, contentType: contentType)
            #expect(first.status == status, "\(path): \(first.text)")
            let second = try await post(stack, path, key: key, json: json, contentType: contentType)
            #expect(second.status == status && second.header("Idempotent-Replayed") == "true", "\(path): \(second.status) \(second.text)")
            #expect(second.json == first.json, "\(path)")
            return first
        }
        let dialable = #"{"name":"Spring renewals","agent_id":"agent_42","call_from_number":"14155550100","timezone":"\#(middayZone)"}"#
        guard let id = try await twice("/v1/campaigns", json: dialable, expecting: 201).json?["campaign_id"]?.stringValue else {
            throw TestFailure("no campaign")
        }
        let numbers = phoneNumbers(3)
        let contacts = numbers.prefix(2).map { #"{"phone_number":"\#($0)","variables":{"name":"Ada","tags":["a","b"]}}"# }.joined(separator: ",")
        #expect(try await twice("/v1/campaigns/\(id)/contacts", json: #"{"contacts":[\#(contacts)]}"#, expecting: 201).json?["inserted_count"] == .int(2))
        let csv = "phone_number,name\n\(numbers[2]),Ada\n"
        #expect(try await twice("/v1/campaigns/\(id)/contacts", json: csv, contentType: "text/csv", expecting: 201).json?["inserted_count"] == .int(1))
        let stored = try await stack.contacts(id)
        #expect(stored.count == 3)
        #expect(stored.first?["variables"]?.jsonText == #"{"name":"Ada","tags":["a","b"]}"#, "\(stored.first?.jsonText ?? "")")
        #expect(try await twice("/v1/dnc", json: #"{"phone_numbers":["15552000001"]}"#, expecting: 201).json?["added_count"] == .int(1))
        #expect(try await twice("/v1/numbers", json: #"{"phone_number":"+14155550142"}"#, expecting: 201).status == 201)
        let webhook = try await twice("/v1/webhooks", json: #"{"url":"http://127.0.0.1:9/hooks"}"#, expecting: 201)
        let webhookID = webhook.json?["id"]?.stringValue ?? ""
        _ = try await twice("/v1/webhooks/\(webhookID)/rotate-secret", expecting: 200)
        let contact = try await stack.contacts(id)[0]["id"]?.stringValue ?? ""
        _ = try await twice("/v1/campaigns/\(id)/contacts/\(contact)/opt-out", expecting: 200)
        _ = try await twice("/v1/campaigns/\(id)/start", expecting: 200)
        for action in ["pause", "resume", "cancel"] {
            let answer = try await twice("/v1/campaigns/\(id)/\(action)", expecting: 200)
            #expect(answer.json?["id"] == .string(id))
        }
        #expect(!stack.manager.logLines.contains { $0.contains("idempotency_not_atomic") })
    }

    @Test func aRetriedCSVUploadInsertsOnceAndAnotherFileIsRefused() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let numbers = phoneNumbers(200)
        let csv = "phone_number,row\n" + numbers.enumerated().map { "\($1),\($0)" }.joined(separator: "\n") + "\n"
        let first = try await post(stack, "/v1/campaigns/\(id)/contacts", key: "file", json: csv, contentType: "text/csv")
        #expect(first.status == 201 && first.json?["inserted_count"] == .int(200), "\(first.text)")
        let again = try await post(stack, "/v1/campaigns/\(id)/contacts", key: "file", json: csv, contentType: "text/csv")
        #expect(again.status == 201 && again.header("Idempotent-Replayed") == "true" && again.json == first.json)
        let changed = try await post(stack, "/v1/campaigns/\(id)/contacts", key: "file", json: csv + "\(phoneNumbers(1, block: 3)[0]),x\n",
                                     contentType: "text/csv")
        #expect(changed.status == 422 && changed.json?["error"]?["code"] == .string("idempotency_key_reused"))
        #expect(try await stack.contacts(id).count == 200)
        // Replays and refusals gave back their staged uploads: the account can still upload twice at once.
        let more = try await post(stack, "/v1/campaigns/\(id)/contacts", key: nil, json: "phone_number\n\(phoneNumbers(1, block: 4)[0])\n",
                                  contentType: "text/csv")
        #expect(more.status == 201)
    }

    /// A second request with the key while the first is served is 409; once it is answered, a
    /// retry gets its answer.
    @Test func aRetryWhileTheFirstIsServedIsAConflict() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        // Both reach the manager while it is stopped, and are served together when it goes on.
        stack.manager.signal(SIGSTOP)
        let first = Task { try await post(stack, "/v1/campaigns", key: "together", json: Self.campaignBody) }
        try await Task.sleep(for: .milliseconds(300))
        let second = Task { try await post(stack, "/v1/campaigns", key: "together", json: Self.campaignBody) }
        try await Task.sleep(for: .milliseconds(300))
        stack.manager.signal(SIGCONT)
        let answers = [try await first.value, try await second.value].sorted { $0.status < $1.status }
        #expect(answers.map(\.status) == [201, 409], "\(answers.map(\.text))")
        #expect(answers[1].json?["error"]?["code"] == .string("idempotency_key_in_use") && answers[1].header("Retry-After") != nil)
        let retry = try await post(stack, "/v1/campaigns", key: "together", json: Self.campaignBody)
        #expect(retry.status == 201 && retry.header("Idempotent-Replayed") == "true" && retry.json == answers[0].json)
        #expect(try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue?.count == 1)
    }

    /// The manager is killed after the create committed and before its answer left: the client
    /// sees an error, and its retry with the key gets the campaign made, not a second one.
    @Test func aCreateCommittedBeforeACrashIsNotDoneTwice() async throws {
        let managerPort = try RawListener.freePort()
        let relay = try AnswerCuttingRelay(to: managerPort)
        defer { relay.stop() }
        var options = StackOptions()
        options.manager["RYMI_MANAGER_LISTEN"] = "127.0.0.1:\(managerPort)"
        options.gateway["RYMI_MANAGER_ADDR"] = "127.0.0.1:\(relay.port)"
        let stack = try await Stack.start(options)
        defer { stack.stop() }
        relay.onReplyToIdempotentCall = { stack.killManager() }
        let cut = try await post(stack, "/v1/campaigns", key: "crash-1", json: Self.campaignBody)
        #expect(cut.status >= 500 && cut.status != 501, "\(cut.status) \(cut.text)")
        relay.onReplyToIdempotentCall = nil
        try await stack.startManager()
        var retry = try await post(stack, "/v1/campaigns", key: "crash-1", json: Self.campaignBody)
        for _ in 0..<100 where retry.status >= 500 {
            try await Task.sleep(for: .milliseconds(100))
            retry = try await post(stack, "/v1/campaigns", key: "crash-1", json: Self.campaignBody)
        }
        #expect(retry.status == 201 && retry.header("Idempotent-Replayed") == "true", "\(retry.status) \(retry.text)")
        let campaigns = try await stack.client.request("GET", "/v1/campaigns").json?["campaigns"]?.arrayValue ?? []
        #expect(campaigns.count == 1 && campaigns.first?["id"] == retry.json?["campaign_id"])
    }
}

/// Relays the gateway's manager connection, and can cut it at the answer to an idempotent call:
/// `onReplyToIdempotentCall` runs (the test kills the manager) and the answer is never passed on.
final class AnswerCuttingRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var listener: RawListener!
    private var trigger: (@Sendable () -> Void)?

    var port: Int { listener.port }

    var onReplyToIdempotentCall: (@Sendable () -> Void)? {
        get { lock.withLock { trigger } }
        set { lock.withLock { trigger = newValue } }
    }

    init(to managerPort: Int) throws {
        listener = try RawListener { [unowned self] gateway in
            guard let manager = try? HTTPClient.connect(port: managerPort, timeout: 3600) else {
                close(gateway)
                return
            }
            Thread.detachNewThread { Self.pump(from: gateway, to: manager) }
            // Manager → gateway, a line at a time, so an answer is passed on whole or not at all.
            while let line = RawListener.readLine(manager) {
                if line.count < 4096, String(decoding: line, as: UTF8.self).contains(#""replayed":false"#), let cut = self.onReplyToIdempotentCall {
                    cut()
                    break
                }
                guard Self.send(gateway, line + [0x0A]) else { break }
            }
            shutdown(gateway, Int32(SHUT_RDWR))
            shutdown(manager, Int32(SHUT_RDWR))
            close(manager)
            close(gateway)
        }
    }

    static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(source, &buffer, buffer.count, 0)
            guard count > 0, send(destination, Array(buffer[0..<count])) else { break }
        }
        shutdown(destination, Int32(SHUT_RDWR))
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    func stop() { listener.stop() }
}
