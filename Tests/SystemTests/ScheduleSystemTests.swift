import Foundation
import JSON
import Runtime
import Testing

/// `start_at` and `end_at` against real processes and the simulator.
@Suite(.serialized) struct ScheduleSystemTests {
    func create(_ stack: Stack, _ times: String) async throws -> String {
        let created = try await stack.client.request("POST", "/v1/campaigns", json: """
            {"name":"timed","agent_id":"a","call_from_number":"14155550100","timezone":"\(middayZone)"\(times)}
            """)
        guard created.status == 201, let id = created.json?["campaign_id"]?.stringValue else { throw TestFailure("create: \(created.text)") }
        return id
    }

    @Test func aScheduledCampaignStartsByItselfAtStartAt() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        // Far enough ahead that the checks before it are done first, even on a loaded box.
        let startAt = Timestamp.nowMilliseconds() + 6000
        let id = try await create(stack, #","start_at":"\#(Timestamp.rfc3339(millisecondsSinceEpoch: startAt))""#)
        try await stack.upload(phoneNumbers(5), to: id)
        let started = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(started.json == .object([("message", .string("Campaign Dispatched Successfully")), ("contacts_dialed", .int(5)), ("contacts_skipped_dnc", .int(0))]))
        let scheduled = try await stack.campaign(id)
        #expect(scheduled["status"] == .string("scheduled") && scheduled["start_at"] == .string(Timestamp.rfc3339(millisecondsSinceEpoch: startAt)))
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/pause").status == 409)
        try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        let first = try await stack.simulatorCalls().requests.compactMap { $0["at"].flatMap { Double($0.jsonText) } }.min() ?? 0
        #expect(first * 1000 >= Double(startAt), "a call went out \(Double(startAt) - first * 1000) ms before start_at")
    }

    @Test func aScheduledCampaignCanBeCanceledBeforeItStarts() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let id = try await create(stack, #","start_at":"\#(Timestamp.rfc3339(millisecondsSinceEpoch: Timestamp.nowMilliseconds() + 1500))""#)
        try await stack.upload(phoneNumbers(3), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/cancel").status == 200)
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await stack.campaign(id)["status"] == .string("canceled"))
        #expect(try await stack.simulatorCalls().requests.isEmpty)
    }

    /// At `end_at` contacts not called yet expire, no call goes out after it, and the campaign
    /// completes once its calls have ended.
    @Test func endAtExpiresContactsNotCalledYet() async throws {
        let stack = try await Stack.start(.dialing(cps: 5))
        defer { stack.stop() }
        let endAt = Timestamp.nowMilliseconds() + 2000
        let id = try await create(stack, #","end_at":"\#(Timestamp.rfc3339(millisecondsSinceEpoch: endAt))""#)
        try await stack.upload(phoneNumbers(40), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        let counts = finished["contact_counts"]
        let expired = counts?["expired"]?.intValue ?? 0
        #expect(expired > 20 && expired < 40, "\(finished)")
        #expect((counts?["completed"]?.intValue ?? 0) + (counts?["failed"]?.intValue ?? 0) + expired == 40)
        let last = try await stack.simulatorCalls().requests.compactMap { $0["at"].flatMap { Double($0.jsonText) } }.max() ?? 0
        #expect(last * 1000 <= Double(endAt) + 100, "a call went out \(last * 1000 - Double(endAt)) ms after end_at")
        #expect(try await stack.contacts(id, status: "expired").count == expired)
        // A campaign whose end has passed cannot be started.
        let late = try await create(stack, "")
        try await stack.upload(phoneNumbers(1), to: late)
        let past = try await stack.client.request("PUT", "/v1/campaigns/\(late)", json: #"{"end_at":"2020-01-01T00:00:00Z"}"#)
        #expect(past.status == 422 && past.text.contains("end_at"))
    }

    @Test func timesAreValidated() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let soon = Timestamp.rfc3339(millisecondsSinceEpoch: Timestamp.nowMilliseconds() + 3_600_000)
        let later = Timestamp.rfc3339(millisecondsSinceEpoch: Timestamp.nowMilliseconds() + 7_200_000)
        for (body, field) in [(#"{"start_at":"tomorrow"}"#, "start_at"), (#"{"start_at":"2026-12-01T09:00:00"}"#, "start_at"),
                              (#"{"end_at":1764581400}"#, "end_at"), (#"{"start_at":"\#(later)","end_at":"\#(soon)"}"#, "end_at")] {
            let response = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: body)
            #expect(response.status == 422 && response.text.contains(field), "\(body): \(response.text)")
        }
        let set = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"start_at":"\#(soon)","end_at":"\#(later)"}"#)
        #expect(set.json?["start_at"] == .string(soon) && set.json?["end_at"] == .string(later))
        // An end before the start the campaign already has is refused too.
        let before = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"end_at":"\#(Timestamp.rfc3339(millisecondsSinceEpoch: Timestamp.nowMilliseconds() + 60_000))"}"#)
        #expect(before.status == 422 && before.text.contains("end_at"))
        let cleared = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"start_at":null,"end_at":null}"#)
        #expect(cleared.json?["start_at"] == .null && cleared.json?["end_at"] == .null)
    }
}
