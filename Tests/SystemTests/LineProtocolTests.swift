import Crypto
import Foundation
import Glibc
import JSON
import Protocol
import RPC
import Testing

/// The manager's line protocol, spoken by hand over real TCP connections: by well-behaved peers
/// and by hostile ones, before, during and after the handshake.
@Suite(.serialized) struct LineProtocolSystemTests {
    /// Runs blocking socket work off the cooperative pool.
    func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    @Test func answersEveryBadLineAfterTheHandshakeAndKeepsTheConnection() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let replies = try await blocking { () throws -> [JSONValue] in
            let client = try WireClient(port: stack.managerPort)
            try client.handshake(role: .gateway, secret: Secrets.gateway)
            guard client.readLine()?["type"] == .string("ok") else { throw TestFailure("authenticate was not accepted") }
            client.send("no.such.type", "{}", id: 4)
            client.send("campaign.get", #"{"account":7}"#, id: 5)
            client.send("ping", "{}", id: 7)
            return (0..<3).compactMap { _ in client.readLine() }
        }
        func reply(_ id: Int) -> JSONValue? { replies.first { $0["id"] == .int(id) } }
        #expect(reply(4)?["body"]?["code"] == .string("unknown_type"))
        #expect(reply(5)?["body"]?["code"] == .string("malformed"))
        #expect(reply(7)?["type"] == .string("ok"))
    }

    @Test func refusesAnotherProtocolVersionAtHello() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let reply = try await blocking { () throws -> JSONValue? in
            let client = try WireClient(port: stack.managerPort)
            client.send("hello", #"{"protocolVersion":99,"role":"gateway","name":"t","nonce":"00"}"#)
            return client.readLine()
        }
        #expect(reply?["body"]?["code"] == .string("version_mismatch"))
    }

    @Test func answersNothingButTheHandshakeBeforeItAndThenCloses() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let campaign = try await stack.createCampaign()
        let (reply, closed) = try await blocking { () throws -> (JSONValue?, Bool) in
            let client = try WireClient(port: stack.managerPort)
            client.send("campaign.list", #"{"account":"acme","limit":50}"#)
            client.send("campaign.get", #"{"account":"acme","campaignID":"\#(campaign)"}"#)
            return (client.readLine(), client.isClosedByPeer())
        }
        #expect(reply?["body"]?["code"] == .string("handshake_required"))
        #expect(reply?.jsonText.contains(campaign) == false)
        #expect(closed)
    }

    @Test func aWrongSecretLearnsNothingAndIsClosed() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let (accepted, closed) = try await blocking { () throws -> (Bool, Bool) in
            let client = try WireClient(port: stack.managerPort)
            // The manager's proof cannot be checked without the secret; go on as an attacker would.
            try client.handshake(role: .gateway, secret: "not-the-gateway-secret-0000000000", checkManager: false)
            let answer = client.readLine()
            return (answer?["type"] == .string("ok"), client.isClosedByPeer())
        }
        #expect(!accepted)
        #expect(closed)
        _ = try await stack.manager.waitForEvent("rpc_auth_failed")
    }

    @Test func aReplayedHandshakeIsRefused() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let nonce = WireAuthentication.freshNonce()
        let captured = try await blocking { () throws -> [UInt8]? in
            let client = try WireClient(port: stack.managerPort)
            let handshake = try client.handshake(role: .gateway, secret: Secrets.gateway, clientNonce: nonce)
            return client.readLine()?["type"] == .string("ok") ? handshake.authenticateLine : nil
        }
        let replayed = try #require(captured)
        // Same hello, same client nonce, then the recorded authenticate line: the manager's fresh
        // nonce makes it worthless.
        let (accepted, closed) = try await blocking { () throws -> (Bool, Bool) in
            let client = try WireClient(port: stack.managerPort)
            client.send("hello", #"{"protocolVersion":1,"role":"gateway","name":"test-peer","nonce":"\#(Hex.encode(nonce))"}"#)
            _ = client.readLine()
            client.sendRaw(replayed)
            client.send("campaign.list", #"{"account":"acme","limit":50}"#)
            let answer = client.readLine()
            return (answer != nil, client.isClosedByPeer())
        }
        #expect(!accepted)
        #expect(closed)
    }

    @Test func aDialerMayNotSendTheGatewaysMessages() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let campaign = try await stack.createCampaign()
        try await stack.upload(["15552001111"], to: campaign)
        let added = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["15552002222"]}"#)
        #expect(added.status == 201)
        let replies = try await blocking { () throws -> [JSONValue] in
            let client = try WireClient(port: stack.managerPort)
            try client.handshake(role: .dialer, secret: Secrets.dialer)
            _ = client.readLine()
            client.send("campaign.list", #"{"account":"acme","limit":50}"#, id: 10)
            client.send("contacts.list", #"{"account":"acme","campaignID":"\#(campaign)","limit":50}"#, id: 11)
            client.send("dnc.remove", #"{"account":"acme","number":"15552002222"}"#, id: 12)
            client.send("campaign.start", #"{"account":"acme","campaignID":"\#(campaign)"}"#, id: 13)
            return (0..<4).compactMap { _ in client.readLine() }
        }
        #expect(replies.count == 4)
        for reply in replies {
            #expect(reply["body"]?["code"] == .string("forbidden"))
            #expect(!reply.jsonText.contains("15552001111"))
        }
        let listed = try await stack.client.request("GET", "/v1/dnc")
        #expect(listed.json?["phone_numbers"] == .array([.string("15552002222")]))
        #expect(try await stack.campaign(campaign)["status"] == .string("draft"))
    }

    @Test func aGatewayMayNotActAsADialer() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let replies = try await blocking { () throws -> [JSONValue] in
            let client = try WireClient(port: stack.managerPort)
            try client.handshake(role: .gateway, secret: Secrets.gateway)
            _ = client.readLine()
            client.send("dialer.register", #"{"name":"rogue","slots":1000}"#, id: 10)
            client.send("dialer.report", #"{"attempt":1,"contactID":"ct_1","outcome":{"skippedDNC":{}}}"#, id: 11)
            return (0..<2).compactMap { _ in client.readLine() }
        }
        #expect(replies.map { $0["body"]?["code"] } == [.string("forbidden"), .string("forbidden")])
    }

    @Test func aTamperedLineAfterTheHandshakeClosesTheConnection() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let (answer, closed) = try await blocking { () throws -> (JSONValue?, Bool) in
            let client = try WireClient(port: stack.managerPort)
            try client.handshake(role: .gateway, secret: Secrets.gateway)
            _ = client.readLine()
            // A sealed line for acme, its account rewritten on the way.
            var sealer = LineSealer(key: HMACSHA256.Key(Array("guess".utf8)))
            var line = sealer.seal(Array(#"{"v":1,"id":9,"type":"campaign.list","body":{"account":"acme","limit":5}}"#.utf8) + [0x0A])
            line.replaceSubrange(0..<2, with: Array("00".utf8))
            client.sendRaw(line)
            return (client.readLine(), client.isClosedByPeer())
        }
        #expect(answer == nil)
        #expect(closed)
        _ = try await stack.manager.waitForEvent("rpc_seal_invalid")
    }

    @Test func strangersAreBoundedInSizeTimeAndNumber() async throws {
        var options = StackOptions()
        options.manager = ["RYMI_MANAGER_HANDSHAKE_TIMEOUT": "0.5", "RYMI_MANAGER_MAX_CONNECTIONS_PER_HOST": "4"]
        let stack = try await Stack.start(options)
        defer { stack.stop() }
        try await blocking {
            // A line far over the handshake's bound is not buffered: the connection is closed.
            let big = try WireClient(port: stack.managerPort)
            big.sendRaw(Array(#"{"v":1,"id":1,"type":"hello","body":{"name":""#.utf8) + [UInt8](repeating: 0x61, count: 64 * 1024))
            #expect(big.isClosedByPeer())
            // Silence past the handshake's deadline is closed too.
            let silent = try WireClient(port: stack.managerPort)
            let started = Date()
            #expect(silent.isClosedByPeer())
            #expect(Date().timeIntervalSince(started) < 4)
            // The gateway holds one of this host's four; three more fit, the next is closed at once.
            let held = try (0..<3).map { _ in try WireClient(port: stack.managerPort) }
            let refused = try WireClient(port: stack.managerPort)
            #expect(refused.isClosedByPeer())
            _ = held
        }
        // The gateway's own connection was never disturbed.
        #expect(try await stack.client.request("GET", "/v1/campaigns").status == 200)
    }

    @Test func aDialerThatTakesOffersAndNeverBeginsThemDoesNotStallDispatch() async throws {
        let stack = try await Stack.start(.dialing(dialers: 0, cps: 0))
        defer { stack.stop() }
        // Registered with many slots, it would take every offer; it acknowledges each and begins none.
        let rogue = try WireClient(port: stack.managerPort, timeout: 30)
        try await blocking {
            try rogue.handshake(role: .dialer, secret: Secrets.dialer, name: "rogue")
            _ = rogue.readLine()
            rogue.send("dialer.register", #"{"name":"rogue","slots":1000}"#, id: 100)
        }
        let swallowed = Counter()
        Thread.detachNewThread {
            while let line = rogue.readLine() {
                guard line["type"] == .string("dialer.place"), let id = line["id"]?.intValue else { continue }
                swallowed.increment()
                rogue.send("ok", "{}", id: id)
            }
        }
        let campaign = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(20), to: campaign)
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(campaign)/start").status == 200)
        try await Task.sleep(for: .milliseconds(500))
        try await stack.addDialer()
        // Well before the manager would drop the rogue as idle (10 s after its last line).
        let finished = try await stack.waitForCampaign(campaign, status: "completed", timeout: 6)
        #expect(finished["contact_counts"]?["pending"] == .int(0))
        #expect(swallowed.value > 0)
        _ = try await stack.manager.waitForEvent("offer_expired")
        shutdown(rogue.fd, Int32(SHUT_RDWR))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
