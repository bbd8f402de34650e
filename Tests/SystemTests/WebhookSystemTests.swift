import Foundation
import JSON
import Testing

/// Webhooks end to end: a real receiver, real processes, signatures checked with Python's hmac.
@Suite(.serialized) struct WebhookSystemTests {
    static func options(retry: String = "0.2") -> StackOptions {
        var options = StackOptions.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=60,busy=40"])
        options.manager["RYMI_WEBHOOK_FIRST_RETRY"] = retry
        return options
    }

    func register(_ stack: Stack, _ url: String, events: String = "") async throws -> (id: String, secret: String) {
        let created = try await stack.client.request("POST", "/v1/webhooks", json: #"{"url":"\#(url)"\#(events)}"#)
        guard created.status == 201, let id = created.json?["id"]?.stringValue, let secret = created.json?["secret"]?.stringValue else {
            throw TestFailure("webhook not created: \(created.status) \(created.text)")
        }
        return (id, secret)
    }

    /// Waits until `condition` holds of what the receiver got.
    func waitFor(_ receiver: WebhookReceiver, timeout: Double = 20, _ condition: ([WebhookReceiver.Received]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(receiver.delivered) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the receiver got \(receiver.delivered.count) events: \(receiver.delivered.compactMap { $0.json?["type"]?.stringValue })")
    }

    /// The README's verification snippets (`python`, `js`), as published.
    static func readmeSnippet(_ language: String) throws -> String {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md"),
                                encoding: .utf8)
        guard let start = readme.range(of: "```\(language)\n  "), let end = readme[start.upperBound...].range(of: "```") else {
            throw TestFailure("no \(language) snippet in the README")
        }
        return readme[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("  ") ? String($0.dropFirst(2)) : String($0) }.joined(separator: "\n")
    }

    /// Checks every signature with Python's standard `hmac`, as the README tells receivers to,
    /// with the README's own function; and with its Node function where Node is installed.
    func verifyWithPython(_ events: [WebhookReceiver.Received], secrets: [String]) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-hooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, event) in events.enumerated() {
            try Data(event.body).write(to: directory.appendingPathComponent("\(index).body"))
            try Data((event.header("Rymi-Signature") ?? "").utf8).write(to: directory.appendingPathComponent("\(index).sig"))
        }
        let script = try Self.readmeSnippet("python") + """

            import glob, sys
            for path in sorted(glob.glob(sys.argv[1] + "/*.body")):
                body = open(path, "rb").read()
                header = open(path[:-5] + ".sig").read()
                for secret in sys.argv[2:]:
                    assert verify(secret, header, body), path + " not signed by " + secret[:10]
                assert not verify("whsec_wrong", header, body)
                assert not verify(sys.argv[2], header, body + b" ")
            print("verified", len(glob.glob(sys.argv[1] + "/*.body")))
            """
        try await run(["python3", "-c", script, directory.path] + secrets, expecting: "verified \(events.count)")
        guard ["/usr/bin/node", "/usr/local/bin/node"].contains(where: FileManager.default.fileExists(atPath:)) else { return }
        let node = try Self.readmeSnippet("js") + """

            const fs = require("fs");
            const [dir, ...secrets] = process.argv.slice(1);  // node -e: no script path
            const bodies = fs.readdirSync(dir).filter((f) => f.endsWith(".body"));
            for (const f of bodies) {
              const body = fs.readFileSync(dir + "/" + f), header = fs.readFileSync(dir + "/" + f.replace(".body", ".sig"), "utf8");
              for (const s of secrets) if (!verify(s, header, body)) throw new Error(f + " not signed");
              if (verify("whsec_wrong", header, body)) throw new Error("a wrong secret verified");
            }
            console.log("verified " + bodies.length);
            """
        try await run(["node", "-e", node, directory.path] + secrets, expecting: "verified \(events.count)")
    }

    func run(_ arguments: [String], expecting expected: String) async throws {
        let (status, output) = try await runTool(arguments)
        let text = String(decoding: output, as: UTF8.self)
        guard status == 0, text.contains(expected) else { throw TestFailure("\(arguments[0]): \(text)") }
    }

    @Test func everyEventOfACampaignArrivesSignedInOrderPerContact() async throws {
        let receiver = try WebhookReceiver()
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        let hook = try await register(stack, receiver.url)
        #expect(hook.secret.hasPrefix("whsec_"))
        let numbers = phoneNumbers(6)
        _ = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["\#(numbers[5])"]}"#)
        let id = try await stack.createCampaign()
        try await stack.upload(numbers, to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed")
        // Events of different contacts (and the campaign's) may arrive in any order: wait for all.
        try await waitFor(receiver) { received in
            let types = received.compactMap { $0.json?["type"]?.stringValue }
            return types.contains("campaign.completed") && types.filter { $0 == "contact.completed" || $0 == "contact.failed" }.count == 5
        }
        let events = receiver.delivered
        let types = events.compactMap { $0.json?["type"]?.stringValue }
        // Ordered per contact (and per campaign), not across them: the campaign's events are there once each.
        #expect(types.filter { $0.hasPrefix("campaign.") } == ["campaign.started", "campaign.completed"], "\(types)")
        #expect(types.filter { $0 == "contact.skipped_dnc" }.count == 1)
        #expect(types.filter { $0 == "contact.dialed" }.count == 5)
        #expect(types.filter { $0 == "contact.completed" || $0 == "contact.failed" }.count == 5)
        #expect(types.filter { $0 == "contact.answered" }.count == types.filter { $0 == "contact.completed" }.count)
        // Per contact, in the order things happened; each event's data is the resource as the API shows it.
        for contact in try await stack.contacts(id) {
            let contactID = contact["id"]?.stringValue ?? ""
            let own = events.filter { $0.json?["data"]?["id"]?.stringValue == contactID }.compactMap { $0.json?["type"]?.stringValue }
            if contact["status"] == .string("skipped_dnc") { #expect(own == ["contact.skipped_dnc"]); continue }
            #expect(own.first == "contact.dialed" && own.last == "contact.\(contact["status"]?.stringValue ?? "")", "\(contactID): \(own)")
        }
        let completed = events.first { $0.json?["type"] == .string("contact.completed") }?.json
        #expect(completed?["data"]?["variables"]?["n"] != nil && completed?["data"]?["attempts"]?.arrayValue?.count == 1)
        #expect(completed?["data"]?["hangup_cause"] == .string("Normal Hangup") && completed?["account"] == .string("acme"))
        #expect(completed?["id"]?.stringValue?.hasPrefix("evt_") == true)
        // Every request names its event, the same id as in the body.
        #expect(events.allSatisfy { $0.header("Rymi-Event-Id") == $0.json?["id"]?.stringValue })
        try await verifyWithPython(events, secrets: [hook.secret])
        let deliveries = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?status=delivered&limit=1000")
        #expect(deliveries.json?["deliveries"]?.arrayValue?.count == events.count)
        await receiver.stop()
    }

    /// The receiver answers 503 for a while: every event arrives afterwards, in order per
    /// contact, the retried ones with the same event id.
    @Test func aReceiverDownGetsEveryEventAfterwardsInOrder() async throws {
        let receiver = try WebhookReceiver()
        receiver.answer(503)
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        let hook = try await register(stack, receiver.url, events: #","events":["contact.dialed","contact.completed","contact.failed"]"#)
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(10), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed")
        try await Task.sleep(for: .seconds(1))
        #expect(receiver.delivered.isEmpty && receiver.requests.count > 0)
        let failing = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?status=pending")
        let tried = failing.json?["deliveries"]?.arrayValue?.filter { $0["attempts"]?.intValue ?? 0 > 0 } ?? []
        #expect(!tried.isEmpty && tried.allSatisfy { $0["last_status_code"] == .int(503) && $0["last_error"] == .string("HTTP 503") })
        receiver.answer(200)
        try await waitFor(receiver) { $0.count == 20 }
        let events = receiver.delivered
        #expect(Set(events.compactMap { $0.json?["id"]?.stringValue }).count == 20, "each event delivered once")
        for contact in try await stack.contacts(id) {
            let own = events.filter { $0.json?["data"]?["id"] == contact["id"] }.compactMap { $0.json?["type"]?.stringValue }
            #expect(own.count == 2 && own[0] == "contact.dialed", "\(own)")
        }
        // Retries carry the event's id each time.
        let retried = receiver.requests.filter { $0.header("X-Test-Answer") != nil }.compactMap { $0.header("Rymi-Event-Id") }
        #expect(Set(retried).isSubset(of: Set(events.compactMap { $0.header("Rymi-Event-Id") })))
        await receiver.stop()
    }

    /// `kill -9` of the manager mid-campaign: after its restart every event arrives; an event
    /// comes twice only with the same `Rymi-Event-Id` (sent, then killed before it was recorded).
    @Test func aKilledManagerLosesNoEventAndInventsNone() async throws {
        let receiver = try WebhookReceiver()
        let stack = try await Stack.start(.dialing(cps: 40, simulator: ["RYMI_SIM_OUTCOMES": "completed=60,busy=40", "RYMI_SIM_TALK_MS": "200"]))
        defer { stack.stop() }
        let hook = try await register(stack, receiver.url, events: #","events":["contact.dialed","contact.completed","contact.failed"]"#)
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(80), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(for: .milliseconds(800))
        stack.killManager()
        try await stack.startManager()
        try await stack.waitForCampaign(id, status: "completed", timeout: 60)
        try await waitFor(receiver, timeout: 30) { Set($0.compactMap { $0.header("Rymi-Event-Id") }).count >= 160 }
        let events = receiver.delivered
        var byID: [String: [UInt8]] = [:]
        for event in events {
            let id = event.header("Rymi-Event-Id") ?? ""
            #expect(byID[id] == nil || byID[id] == event.body, "a duplicate of \(id) with another body")
            byID[id] = event.body
        }
        // Exactly one dialed and one final event per contact, matching what the API says.
        for contact in try await stack.contacts(id) {
            let own = Set(byID.values.compactMap { try? JSONParser.parse($0) }.filter { $0["data"]?["id"] == contact["id"] }
                .compactMap { $0["type"]?.stringValue })
            #expect(own == ["contact.dialed", "contact.\(contact["status"]?.stringValue ?? "")"], "\(contact["id"] ?? .null): \(own)")
        }
        let pending = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?status=pending")
        #expect(pending.json?["deliveries"] == .array([]))
        await receiver.stop()
    }

    /// A receiver that answers at once gets each event exactly once: a delivery settled while the
    /// sender was reading the outbox is never read as due and sent again.
    @Test func aPromptReceiverGetsEachEventExactlyOnce() async throws {
        let receiver = try WebhookReceiver()
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        let hook = try await register(stack, receiver.url)
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(200, block: 3), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed", timeout: 60)
        // Until nothing is pending (events of different contacts arrive in any order).
        for _ in 0..<200 {
            let pending = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?status=pending&limit=1")
            if pending.json?["deliveries"] == .array([]) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        var listed = 0
        var cursor = ""
        repeat {
            let page = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?limit=1000\(cursor.isEmpty ? "" : "&cursor=" + cursor)")
            #expect(page.json?["deliveries"]?.arrayValue?.allSatisfy { $0["status"] == .string("delivered") } == true)
            listed += page.json?["deliveries"]?.arrayValue?.count ?? 0
            cursor = page.json?["next_cursor"]?.stringValue ?? ""
        } while !cursor.isEmpty
        let ids = receiver.delivered.compactMap { $0.header("Rymi-Event-Id") }
        #expect(listed >= 400 && ids.count == listed && Set(ids).count == ids.count, "\(ids.count) requests, \(Set(ids).count) events, \(listed) listed")
        await receiver.stop()
    }

    /// A cancel's contacts each get `contact.canceled` once, written after the cancel a thousand
    /// at a time: the cancel does not wait for them.
    @Test func aCanceledCampaignsContactsEachGetTheirEventOnce() async throws {
        let receiver = try WebhookReceiver()
        var options = Self.options()
        options.manager["RYMI_DIAL_CPS"] = "2"
        let stack = try await Stack.start(options)
        defer { stack.stop() }
        _ = try await register(stack, receiver.url, events: #","events":["contact.canceled","campaign.canceled"]"#)
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(2_500, block: 4), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/cancel").status == 200)
        let canceled = try await stack.waitForCampaign(id, status: "canceled")["contact_counts"]?["canceled"]?.intValue ?? 0
        #expect(canceled >= 2_490)
        try await waitFor(receiver, timeout: 30) { $0.filter { $0.json?["type"] == .string("contact.canceled") }.count >= canceled }
        let events = receiver.delivered.filter { $0.json?["type"] == .string("contact.canceled") }
        let contacts = events.compactMap { $0.json?["data"]?["id"]?.stringValue }
        #expect(events.count == canceled && Set(contacts).count == canceled)
        #expect(events.allSatisfy { $0.json?["data"]?["status"] == .string("canceled") })
        #expect(receiver.delivered.filter { $0.json?["type"] == .string("campaign.canceled") }.count == 1)
        await receiver.stop()
    }

    /// A receiver that hangs holds only its own deliveries (16 at most): another account's arrive at once.
    @Test func aHangingReceiverDoesNotDelayAnotherAccount() async throws {
        let stuck = try WebhookReceiver()
        stuck.answer(200, after: .seconds(30))
        let healthy = try WebhookReceiver()
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        _ = try await register(stack, stuck.url)
        let created = try await stack.client.request("POST", "/v1/webhooks", key: Keys.globex, json: #"{"url":"\#(healthy.url)"}"#)
        #expect(created.status == 201)
        #expect(try await stack.client.request("POST", "/v1/numbers", key: Keys.globex, json: #"{"phone_number":"+14155550111"}"#).status == 201)
        let acme = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(30, block: 1), to: acme)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(acme)/start")
        try await Task.sleep(for: .milliseconds(500))
        let globex = try await stack.client.request("POST", "/v1/campaigns", key: Keys.globex, json: """
            {"name":"g","agent_id":"a","call_from_number":"14155550111","timezone":"\(middayZone)"}
            """).json?["campaign_id"]?.stringValue ?? ""
        try await stack.upload(phoneNumbers(5, block: 2), to: globex, key: Keys.globex)
        let started = Date()
        _ = try await stack.client.request("POST", "/v1/campaigns/\(globex)/start", key: Keys.globex)
        try await waitFor(healthy, timeout: 10) { $0.contains { $0.json?["type"] == .string("campaign.completed") } }
        #expect(Date().timeIntervalSince(started) < 5, "globex's events took \(Date().timeIntervalSince(started)) s")
        #expect(stuck.arrived >= 1 && stuck.arrived <= 16, "the stuck endpoint has at most 16 deliveries in flight: \(stuck.arrived)")
        await stuck.stop()
        await healthy.stop()
    }

    /// A receiver that refuses an event (a 4xx other than 408/429) fails it at once, without
    /// retries; it is listed with its status and error, sent again on request, and counted.
    @Test func aRefusedEventFailsAtOnceAndCanBeRedelivered() async throws {
        let receiver = try WebhookReceiver()
        receiver.answer(410)
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        let hook = try await register(stack, receiver.url, events: #","events":["campaign.started"]"#)
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(1), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        var failed: [JSONValue] = []
        for _ in 0..<100 where failed.isEmpty {
            failed = try await stack.client.request("GET", "/v1/webhooks/\(hook.id)/deliveries?status=failed").json?["deliveries"]?.arrayValue ?? []
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(failed.count == 1 && failed.first?["attempts"] == .int(1) && failed.first?["last_status_code"] == .int(410))
        #expect(failed.first?["last_error"]?.stringValue?.contains("refused") == true && failed.first?["last_latency_ms"]?.intValue != nil)
        receiver.answer(200)
        let eventID = failed.first?["event_id"]?.stringValue ?? ""
        let again = try await stack.client.request("POST", "/v1/webhooks/\(hook.id)/deliveries/\(eventID)/redeliver")
        #expect(again.status == 202 && again.json?["status"] == .string("pending"))
        try await waitFor(receiver) { $0.count == 1 }
        #expect(receiver.delivered.first?.header("Rymi-Event-Id") == eventID)
        #expect(try await stack.client.request("POST", "/v1/webhooks/\(hook.id)/deliveries/evt_nope/redeliver").status == 404)
        // Counted once its outcome is written, a moment after the receiver answered.
        func counted(_ metrics: String) -> Bool {
            metrics.contains(#"rymi_webhook_deliveries_total{outcome="failed"} 1"#) && metrics.contains(#"rymi_webhook_deliveries_total{outcome="delivered"} 1"#)
        }
        var metrics = ""
        for _ in 0..<100 where !counted(metrics) {
            metrics = try await stack.adminClient.request("GET", "/metrics", key: nil).text
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(counted(metrics), "\(metrics.split(separator: "\n").filter { $0.contains("webhook") })")
        await receiver.stop()
    }

    @Test func endpointsAreValidatedRotatedAndRemoved() async throws {
        let receiver = try WebhookReceiver()
        let stack = try await Stack.start(Self.options())
        defer { stack.stop() }
        for (body, reason) in [(#"{"url":"http://example.com/hooks"}"#, "https"), (#"{"url":"https://10.1.2.3/hooks"}"#, "internal"),
                               (#"{"url":"https://169.254.169.254/latest"}"#, "internal"), (#"{"url":"ftp://example.com/"}"#, "https"),
                               (#"{"url":"\#(receiver.url)","events":["contact.exploded"]}"#, "events"), (#"{}"#, "url"),
                               (#"{"url":"\#(receiver.url)","secret":"mine"}"#, "secret")] {
            let refused = try await stack.client.request("POST", "/v1/webhooks", json: body)
            #expect(refused.status == 422 && refused.text.contains(reason), "\(body): \(refused.text)")
        }
        let hook = try await register(stack, receiver.url, events: #","events":["campaign.started"]"#)
        let listed = try await stack.client.request("GET", "/v1/webhooks")
        #expect(listed.json?["webhooks"]?.arrayValue?.first?["secret"] == nil, "the secret is shown once")
        #expect(try await stack.client.request("GET", "/v1/webhooks", key: Keys.globex).json?["webhooks"] == .array([]))
        let rotated = try await stack.client.request("POST", "/v1/webhooks/\(hook.id)/rotate-secret")
        let newSecret = rotated.json?["secret"]?.stringValue ?? ""
        #expect(newSecret.hasPrefix("whsec_") && newSecret != hook.secret)
        // For a day after a rotation, deliveries carry signatures by both secrets.
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(1), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await waitFor(receiver) { !$0.isEmpty }
        try await verifyWithPython(receiver.delivered, secrets: [newSecret, hook.secret])
        #expect(try await stack.client.request("DELETE", "/v1/webhooks/\(hook.id)", key: Keys.globex).status == 404)
        #expect(try await stack.client.request("DELETE", "/v1/webhooks/\(hook.id)").status == 200)
        #expect(try await stack.client.request("GET", "/v1/webhooks").json?["webhooks"] == .array([]))
        await receiver.stop()
    }
}
