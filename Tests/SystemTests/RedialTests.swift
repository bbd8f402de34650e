import Foundation
import JSON
import Testing

/// The retry policy against the simulator: busy numbers called again after the delay, exactly
/// `max_attempts` times in all, with every attempt kept.
@Suite(.serialized) struct RedialSystemTests {
    /// A dialing stack whose gateway lets retry policies wait a second (60 s otherwise).
    func quickRedials(outcomes: String) async throws -> Stack {
        var options = StackOptions.dialing(simulator: ["RYMI_SIM_OUTCOMES": outcomes])
        options.gateway = ["RYMI_TEST_MIN_RETRY_DELAY_SECONDS": "1"]
        return try await Stack.start(options)
    }

    @Test func busyNumbersAreCalledMaxAttemptsTimesSpacedByTheDelay() async throws {
        let stack = try await quickRedials(outcomes: "busy=1")
        defer { stack.stop() }
        // The shortest delay is a minute, unless lowered for tests.
        let created = try await stack.client.request("POST", "/v1/campaigns", json: """
            {"name":"redials","agent_id":"a","call_from_number":"14155550100","timezone":"\(middayZone)",
             "retry_policy":{"busy":{"max_attempts":3,"delay_seconds":3},"no_answer":{"max_attempts":2,"delay_seconds":1}}}
            """)
        #expect(created.status == 201, "\(created.text)")
        let id = created.json?["campaign_id"]?.stringValue ?? ""
        let campaign = try await stack.campaign(id)
        #expect(campaign["retry_policy"] == .object([("busy", .object([("max_attempts", .int(3)), ("delay_seconds", .int(3))])),
                                                     ("no_answer", .object([("max_attempts", .int(2)), ("delay_seconds", .int(1))]))]))
        let numbers = phoneNumbers(3)
        try await stack.upload(numbers, to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        // While a contact waits for its redial it is pending, with the attempts made and when.
        // Watched until the campaign ends, not for a fixed time: on a loaded box its first calls
        // can come late (a CI run's 100 polls ended before any contact had waited). Busy waits
        // 3 s: on a loaded box a hangup can be recorded a second late, and a 1 s wait was then
        // already over when it was written (a CI run never saw one).
        var sawWaiting = false
        let deadline = Date().addingTimeInterval(30)
        while !sawWaiting, Date() < deadline {
            let waiting = try await stack.contacts(id, status: "pending").first { $0["next_attempt_at"] != .null }
            if let waiting {
                sawWaiting = true
                #expect(waiting["attempt"]?.intValue ?? 0 >= 1 && waiting["failure_reason"] == .string("busy"))
            } else if try await stack.campaign(id)["status"] == .string("completed") {
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(sawWaiting)
        let finished = try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        #expect(finished["contact_counts"]?["failed"] == .int(3))

        let requests = try await stack.simulatorCalls().requests
        for number in numbers {
            let times = requests.filter { $0["to"]?.stringValue == number }.compactMap { $0["at"].flatMap { Double($0.jsonText) } }.sorted()
            #expect(times.count == 3, "\(number) called \(times.count) times")
            for (earlier, later) in zip(times, times.dropFirst()) { #expect(later - earlier >= 3, "\(number) redialed after \(later - earlier) s") }
        }
        let contactID = try await stack.contacts(id).first?["id"]?.stringValue ?? ""
        let contact = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(contactID)").json
        #expect(contact?["status"] == .string("failed") && contact?["failure_reason"] == .string("busy") && contact?["attempt"] == .int(3))
        #expect(contact?["next_attempt_at"] == .null)
        let attempts = contact?["attempts"]?.arrayValue ?? []
        #expect(attempts.count == 3)
        // Numbered as the user counts them; the dispatcher's ids are there too, each its own.
        #expect(attempts.map { $0["attempt"]?.intValue ?? 0 } == [1, 2, 3])
        #expect(Set(attempts.compactMap { $0["attempt_id"]?.stringValue }).count == 3)
        #expect(attempts.allSatisfy { $0["outcome"] == .string("failed") && $0["failure_reason"] == .string("busy") && $0["hangup_cause"] == .string("Busy Line") })
        #expect(Set(attempts.compactMap { $0["call_uuid"]?.stringValue }).count == 3, "each attempt keeps its own call")
    }

    /// The simulator's machines answer numbers ending in 9: with detection on they are recorded
    /// as `machine`, end as `voicemail` and are redialed by the policy; people are `human`.
    @Test func voicemailNumbersAreRecordedAsMachineAndRedialedByPolicy() async throws {
        let stack = try await quickRedials(outcomes: "completed=1")
        defer { stack.stop() }
        let created = try await stack.client.request("POST", "/v1/campaigns", json: """
            {"name":"amd","agent_id":"a","call_from_number":"14155550100","timezone":"\(middayZone)","machine_detection":"detect",
             "machine_detection_time":3000,"retry_policy":{"voicemail":{"max_attempts":2,"delay_seconds":1}}}
            """)
        let id = created.json?["campaign_id"]?.stringValue ?? ""
        #expect(try await stack.campaign(id)["machine_detection"] == .string("detect"))
        let numbers = phoneNumbers(10)  // the last ends in 9
        try await stack.upload(numbers, to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        #expect(finished["contact_counts"]?["completed"] == .int(9) && finished["contact_counts"]?["failed"] == .int(1))
        let requests = try await stack.simulatorCalls().requests
        #expect(requests.filter { $0["to"]?.stringValue == numbers[9] }.count == 2, "the machine's number is called twice in all")
        #expect(requests.count == 11)
        for contact in try await stack.contacts(id) {
            let machine = contact["phone_number"]?.stringValue == numbers[9]
            #expect(contact["answered_by"] == .string(machine ? "machine" : "human"), "\(contact)")
            if machine { #expect(contact["status"] == .string("failed") && contact["failure_reason"] == .string("voicemail")) }
        }
        let machineID = try await stack.contacts(id).first { $0["phone_number"]?.stringValue == numbers[9] }?["id"]?.stringValue ?? ""
        let attempts = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(machineID)").json?["attempts"]?.arrayValue ?? []
        #expect(attempts.map { $0["answered_by"] } == [.string("machine"), .string("machine")])
        #expect(attempts.map { $0["failure_reason"] } == [.string("voicemail"), .string("voicemail")])
    }

    /// In `hangup` mode Plivo ends a machine's call at once (cause 9100): voicemail too.
    @Test func hangupModeEndsMachineCallsAsVoicemail() async throws {
        let stack = try await Stack.start(.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=1", "RYMI_SIM_TALK_MS": "3000"]))
        defer { stack.stop() }
        let created = try await stack.client.request("POST", "/v1/campaigns", json: """
            {"name":"amd","agent_id":"a","call_from_number":"14155550100","timezone":"\(middayZone)","machine_detection":"hangup"}
            """)
        let id = created.json?["campaign_id"]?.stringValue ?? ""
        let numbers = phoneNumbers(10)
        try await stack.upload([numbers[9]], to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        let contact = try await stack.contacts(id)[0]
        #expect(contact["failure_reason"] == .string("voicemail") && contact["hangup_cause_code"] == .int(9100) && contact["answered_by"] == .string("machine"))
        // The request asked Plivo for it, with a signed place to say who answered.
        let bad = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"machine_detection":"on","machine_detection_time":100}"#)
        #expect(bad.status == 422 && bad.text.contains("machine_detection") && bad.text.contains("machine_detection_time"))
    }

    @Test func retryPoliciesAreValidated() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let bad: [(String, String)] = [
            (#"{"busy":{"max_attempts":11,"delay_seconds":600}}"#, "retry_policy.busy.max_attempts"),
            (#"{"busy":{"max_attempts":0,"delay_seconds":600}}"#, "retry_policy.busy.max_attempts"),
            (#"{"busy":{"max_attempts":3,"delay_seconds":59}}"#, "retry_policy.busy.delay_seconds"),
            (#"{"busy":{"max_attempts":3,"delay_seconds":604801}}"#, "retry_policy.busy.delay_seconds"),
            (#"{"busy":{"max_attempts":3}}"#, "retry_policy.busy.delay_seconds"),
            (#"{"busy":{"max_attempts":3,"delay_seconds":60,"jitter":1}}"#, "retry_policy.busy.jitter"),
            (#"{"ringing":{"max_attempts":3,"delay_seconds":60}}"#, "retry_policy.ringing"),
            (#"{"busy":3}"#, "retry_policy.busy"),
            (#"[1]"#, "retry_policy"),
        ]
        for (policy, field) in bad {
            let response = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"retry_policy":\#(policy)}"#)
            #expect(response.status == 422 && response.text.contains(field), "\(policy): \(response.status) \(response.text)")
        }
        let set = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"retry_policy":{"voicemail":{"max_attempts":2,"delay_seconds":3600}}}"#)
        #expect(set.json?["retry_policy"] == .object([("voicemail", .object([("max_attempts", .int(2)), ("delay_seconds", .int(3600))]))]))
        let cleared = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"retry_policy":null}"#)
        #expect(cleared.json?["retry_policy"] == .null)
    }
}
