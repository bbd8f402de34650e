import Foundation
import JSON
import Testing

/// Calls Plivo holds in its queue (our rate above the account's, `RYMI_SIM_CPS` here) are
/// canceled when they must not go out any more, and none of them reaches its callee.
@Suite(.serialized) struct QueuedCallTests {
    /// The simulator starts one call every 2 s: of four requests sent at once, three wait in its
    /// queue, for 2, 4 and 6 s (even on a box so busy the requests arrive a second apart).
    static let options = StackOptions.dialing(cps: 50, simulator: ["RYMI_SIM_CPS": "0.5", "RYMI_SIM_TALK_MS": "200"])

    /// Starts a campaign of `numbers` and returns once the simulator has every request.
    func dialAll(_ numbers: [String], on stack: Stack) async throws -> String {
        let id = try await stack.createCampaign()
        try await stack.upload(numbers, to: id)
        let started = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(started.status == 200, "\(started.text)")
        let deadline = Date().addingTimeInterval(5)
        while try await stack.simulatorCalls().requests.count < numbers.count, Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await stack.simulatorCalls().requests.count == numbers.count)
        return id
    }

    /// The simulator's calls to `number`: their state, and whether they ever rang.
    func callsTo(_ number: String, _ calls: [JSONValue]) -> [(state: String, rang: Bool)] {
        calls.filter { $0["to"]?.stringValue == number }.map { call in
            (call["state"]?.stringValue ?? "", call["events"]?.arrayValue?.contains(.string("Ring")) ?? false)
        }
    }

    @Test func pauseCancelsQueuedCallsWhichNeverRingAndResumeCallsThemOnce() async throws {
        let stack = try await Stack.start(Self.options)
        defer { stack.stop() }
        let numbers = phoneNumbers(4)
        let id = try await dialAll(numbers, on: stack)
        let paused = try await stack.client.request("POST", "/v1/campaigns/\(id)/pause")
        let campaign = try await stack.campaign(id).jsonText
        #expect(paused.status == 200, "\(paused.text) \(campaign)")
        // Answered once Plivo confirmed the cancels: the contacts are pending again.
        let pending = try await stack.contacts(id, status: "pending").compactMap { $0["phone_number"]?.stringValue }
        #expect(pending.count >= 2, "\(pending.count) calls canceled; the simulator starts one every 2 s")
        let canceled = try await stack.simulatorCalls().calls.filter { $0["state"] == .string("cancel") }
        #expect(Set(canceled.compactMap { $0["to"]?.stringValue }) == Set(pending))
        if let first = try await stack.contacts(id, status: "pending").first?["id"]?.stringValue {
            let contact = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(first)")
            #expect(contact.json?["attempts"]?.arrayValue?.last?["outcome"] == .string("canceled_at_plivo"))
        }
        // Well after their turn in the simulator's queue, none of them has rung.
        try await Task.sleep(for: .seconds(2))
        let afterPause = try await stack.simulatorCalls().calls
        for number in pending { #expect(callsTo(number, afterPause).allSatisfy { $0.state == "cancel" && !$0.rang }, "\(number)") }

        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/resume")
        try await stack.waitForCampaign(id, status: "completed")
        let calls = try await stack.simulatorCalls().calls
        for number in numbers {
            #expect(callsTo(number, calls).filter(\.rang).count == 1, "\(number) rang \(callsTo(number, calls).filter(\.rang).count) times")
        }
    }

    @Test func aDNCAdditionCancelsTheQueuedCallsOfItsNumbers() async throws {
        // One call every 4 s: the listed numbers' calls wait 8 and 12 s, time enough on a busy box.
        let stack = try await Stack.start(.dialing(cps: 50, simulator: ["RYMI_SIM_CPS": "0.25", "RYMI_SIM_TALK_MS": "200"]))
        defer { stack.stop() }
        let numbers = phoneNumbers(4)
        let id = try await dialAll(numbers, on: stack)
        // Written another way than uploaded: the same people.
        let listed = numbers.suffix(2).map { "+" + $0.prefix(1) + " (" + $0.dropFirst().prefix(3) + ") " + $0.dropFirst(4) }
        let added = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["\#(listed.joined(separator: "\",\""))"]}"#)
        #expect(added.status == 201)
        for contact in try await stack.contacts(id) where numbers.suffix(2).contains(contact["phone_number"]?.stringValue ?? "") {
            #expect(contact["status"] == .string("skipped_dnc"), "\(contact)")
        }
        try await stack.waitForCampaign(id, status: "completed")
        let calls = try await stack.simulatorCalls().calls
        for number in numbers.suffix(2) { #expect(callsTo(number, calls).map(\.state) == ["cancel"], "\(number)") }
        for number in numbers.prefix(2) { #expect(callsTo(number, calls).filter(\.rang).count == 1, "\(number)") }
        let totals = try await stack.campaign(id)["contact_counts"]
        #expect(totals?["skipped_dnc"] == .int(2) && totals?["completed"].map { $0.intValue! + (totals?["failed"]?.intValue ?? 0) } == 2)
    }

    /// Cancel: contacts not called yet are canceled, those Plivo held queued too (never ringing),
    /// the call in progress finishes and is recorded, and the campaign stays canceled.
    @Test func cancelStopsQueuedCallsAndIsFinal() async throws {
        let stack = try await Stack.start(Self.options)
        defer { stack.stop() }
        let numbers = phoneNumbers(4)
        let id = try await dialAll(numbers, on: stack)
        let canceled = try await stack.client.request("POST", "/v1/campaigns/\(id)/cancel")
        #expect(canceled.json == .object([("status", .string("canceled")), ("id", .string(id))]))
        #expect(try await stack.contacts(id, status: "pending").isEmpty)
        let stopped = try await stack.contacts(id, status: "canceled").compactMap { $0["phone_number"]?.stringValue }
        #expect(stopped.count >= 2, "\(stopped.count) calls canceled; the simulator starts one every 2 s")
        for verb in ["start", "pause", "resume", "cancel"] {
            #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/\(verb)").status == 409, "\(verb)")
        }
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[{"phone_number":"15552000999"}]}"#).status == 409)
        try await Task.sleep(for: .seconds(3))
        let calls = try await stack.simulatorCalls().calls
        #expect(calls.count == numbers.count, "a call was requested after the cancel answered")
        for number in stopped { #expect(callsTo(number, calls).map(\.state) == ["cancel"], "\(number)") }
        let campaign = try await stack.campaign(id)
        let counts = campaign["contact_counts"]
        #expect(campaign["status"] == .string("canceled"))
        #expect(counts?["canceled"] == .int(stopped.count) && counts?["pending"] == .int(0) && counts?["dialed"] == .int(0), "\(campaign)")
        #expect(counts?["total"] == .int(numbers.count))
    }
}
