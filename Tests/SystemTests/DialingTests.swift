import Foundation
import JSON
import Plivo
import Testing

/// Campaigns dialed for real: manager, gateway, dialers and the Plivo simulator as processes.
@Suite(.serialized) struct DialingTests {
    /// Every number the simulator was asked to call, with how many times.
    func requestCounts(_ stack: Stack) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for request in try await stack.simulatorCalls().requests { counts[request["to"]?.stringValue ?? "", default: 0] += 1 }
        return counts
    }

    @Test func runsACampaignToCompletionWithExactCounts() async throws {
        let stack = try await Stack.start(.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=70,busy=10,no-answer=10,failed=10"]))
        defer { stack.stop() }
        let numbers = phoneNumbers(300)
        let dnc = [numbers[7], numbers[150], "15559999999"]
        let added = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["\#(dnc.joined(separator: "\",\""))"]}"#)
        #expect(added.status == 201)
        #expect(added.json?["added_count"] == .int(3))
        let id = try await stack.createCampaign()
        try await stack.upload(numbers, to: id)

        let started = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(started.status == 200)
        #expect(started.json == .object([("message", .string("Campaign Dispatched Successfully")), ("contacts_dialed", .int(298)), ("contacts_skipped_dnc", .int(2))]))
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/start").status == 409)

        let finished = try await stack.waitForCampaign(id, status: "completed")
        let (calls, requests) = try await stack.simulatorCalls()
        let counts = try await requestCounts(stack)
        #expect(requests.count == 298)
        #expect(counts.values.allSatisfy { $0 == 1 }, "a number was called twice")
        #expect(counts[numbers[7]] == nil && counts[numbers[150]] == nil)
        let outcomes = Dictionary(calls.map { ($0["to"]?.stringValue ?? "", $0["outcome"]?.stringValue ?? "") }, uniquingKeysWith: { $1 })
        let expectedCompleted = outcomes.values.filter { $0 == "completed" }.count
        let totals = finished["contact_counts"]
        #expect(totals?["completed"] == .int(expectedCompleted))
        #expect(totals?["failed"] == .int(298 - expectedCompleted))
        #expect(totals?["skipped_dnc"] == .int(2))
        #expect(totals?["pending"] == .int(0) && totals?["dialed"] == .int(0))

        // Each contact's record agrees with what the simulator did to its number.
        let reasons = ["busy": "busy", "no-answer": "no_answer", "failed": "call_failed"]
        for contact in try await stack.contacts(id) {
            let number = contact["phone_number"]?.stringValue ?? ""
            if dnc.contains(number) {
                #expect(contact["status"] == .string("skipped_dnc"))
                continue
            }
            let outcome = outcomes[number] ?? "?"
            if outcome == "completed" {
                #expect(contact["status"] == .string("completed"), "\(number)")
                #expect(contact["answered_at"] != .null && contact["duration_seconds"] == .int(1))
                #expect(contact["hangup_cause"] == .string("Normal Hangup"))
            } else {
                #expect(contact["status"] == .string("failed"), "\(number)")
                #expect(contact["failure_reason"] == .string(reasons[outcome] ?? "?"), "\(number) \(outcome)")
                #expect(contact["hangup_cause_code"]?.intValue != nil)
            }
            #expect(contact["request_uuid"]?.stringValue != nil && contact["call_uuid"]?.stringValue != nil)
        }
    }

    @Test func pauseStopsNewCallsAndResumeGoesOn() async throws {
        let stack = try await Stack.start(.dialing(cps: 20))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(60), to: id)
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/pause").status == 409)
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/resume").status == 409)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(nanoseconds: 700_000_000)
        let paused = try await stack.client.request("POST", "/v1/campaigns/\(id)/pause")
        #expect(paused.json == .object([("status", .string("paused")), ("id", .string(id))]))
        let atPause = try await stack.simulatorCalls().requests.count
        #expect(atPause > 0 && atPause < 60)
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(try await stack.simulatorCalls().requests.count == atPause, "a call was placed after the pause answered")
        #expect(try await stack.campaign(id)["status"] == .string("paused"))
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/pause").status == 409)

        let resumed = try await stack.client.request("POST", "/v1/campaigns/\(id)/resume")
        #expect(resumed.json == .object([("status", .string("running")), ("id", .string(id))]))
        try await stack.waitForCampaign(id, status: "completed")
        let counts = try await requestCounts(stack)
        #expect(counts.count == 60 && counts.values.allSatisfy { $0 == 1 })
    }

    /// Cancel mid-campaign: nothing left pending, no request after the answer, the calls in
    /// progress end and are recorded, and the campaign stays canceled.
    @Test func cancelMidCampaignLeavesNothingPendingAndPlacesNothingMore() async throws {
        let stack = try await Stack.start(.dialing(cps: 20))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(100), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(for: .milliseconds(700))
        let canceled = try await stack.client.request("POST", "/v1/campaigns/\(id)/cancel")
        #expect(canceled.json == .object([("status", .string("canceled")), ("id", .string(id))]))
        let atCancel = try await stack.simulatorCalls().requests.count
        #expect(atCancel > 0 && atCancel < 100)
        #expect(try await stack.contacts(id, status: "pending").isEmpty)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await stack.simulatorCalls().requests.count == atCancel, "a call was placed after the cancel answered")
        let campaign = try await stack.campaign(id)
        let counts = campaign["contact_counts"]
        #expect(campaign["status"] == .string("canceled") && counts?["dialed"] == .int(0))
        #expect(counts?["canceled"] == .int(100 - atCancel), "\(campaign)")
        #expect((counts?["completed"]?.intValue ?? 0) + (counts?["failed"]?.intValue ?? 0) == atCancel)
    }

    /// Regression: status changes finishing out of order once left a running campaign with no
    /// queue (never completing) or a paused one still queued.
    @Test func rapidPauseAndResumeNeverStrandAQueue() async throws {
        let stack = try await Stack.start(.dialing(cps: 100))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(150), to: id)
        async let start = stack.client.request("POST", "/v1/campaigns/\(id)/start")
        async let pause = stack.client.request("POST", "/v1/campaigns/\(id)/pause")
        _ = try await (start, pause)
        for _ in 0..<10 {
            async let resume = stack.client.request("POST", "/v1/campaigns/\(id)/resume")
            async let pauseAgain = stack.client.request("POST", "/v1/campaigns/\(id)/pause")
            _ = try await (resume, pauseAgain)
        }
        if try await stack.campaign(id)["status"] == .string("paused") {
            _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/resume")
        }
        try await stack.waitForCampaign(id, status: "completed", timeout: 60)
        var counts: [String: Int] = [:]
        for request in try await stack.simulatorCalls().requests { counts[request["to"]?.stringValue ?? "", default: 0] += 1 }
        #expect(counts.count == 150 && counts.values.allSatisfy { $0 == 1 })
    }

    @Test func twoDialersShareTheWorkAndTheRate() async throws {
        let cps = 25
        let stack = try await Stack.start(.dialing(dialers: 2, cps: cps))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(100), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed")
        let (calls, requests) = try await stack.simulatorCalls()
        let byDialer = Dictionary(grouping: requests, by: { $0["user_agent"]?.stringValue ?? "" })
        #expect(byDialer.keys.sorted() == ["rymi-dialer/dialer-1", "rymi-dialer/dialer-2"])
        #expect(byDialer.values.allSatisfy { $0.count >= 20 }, "\(byDialer.mapValues(\.count))")
        // Never more than the configured rate in any one-second window, across both dialers.
        let times = calls.compactMap { $0["received_at"].flatMap { Double($0.jsonText) } }.sorted()
        var worst = 0
        for (index, start) in times.enumerated() {
            worst = max(worst, times[index...].prefix { $0 < start + 1 }.count)
        }
        // The strict bound is asserted by the multi-host test, which runs alone; here other suites
        // load the machine, so one request in a window may arrive a scheduling hiccup early.
        #expect(worst <= cps + 1, "\(worst) calls in one second")
        // Never faster than the rate; on a machine loaded by the other suites a go-ahead may miss
        // its slot and renew, so the rate's accuracy (within 1%) is the bench's and the multi-host
        // test's to measure: here it must only keep up.
        let achieved = Double(times.count - 1) / (times.last! - times.first!)
        #expect(achieved <= Double(cps) * 1.01 && achieved >= Double(cps) * 0.85, "achieved \(achieved) calls/s")
    }

    @Test func killingADialerMidCampaignLosesNothingAndCallsNobodyTwice() async throws {
        let stack = try await Stack.start(.dialing(dialers: 2, cps: 60))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(200), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(nanoseconds: 1_000_000_000)
        stack.dialers[0].signal(SIGKILL)
        let finished = try await stack.waitForCampaign(id, status: "completed")
        let counts = try await requestCounts(stack)
        #expect(counts.values.allSatisfy { $0 == 1 }, "a number was called twice")
        let totals = finished["contact_counts"]
        #expect(totals?["total"] == .int(200))
        #expect(totals?["pending"] == .int(0) && totals?["dialed"] == .int(0))
        // Every contact not called was re-offered and called; only the few in flight at the kill may be unknown.
        let unknown = try await stack.contacts(id, status: "failed").filter { $0["failure_reason"] == .string("outcome_unknown") }
        #expect(counts.count + unknown.filter { counts[$0["phone_number"]?.stringValue ?? ""] == nil }.count == 200)
    }

    @Test func killingTheManagerMidCampaignLosesNothingAndCallsNobodyTwice() async throws {
        let stack = try await Stack.start(.dialing(cps: 60))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(200), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(nanoseconds: 1_200_000_000)
        stack.killManager()
        try await Task.sleep(nanoseconds: 300_000_000)
        try await stack.startManager()
        let finished = try await stack.waitForCampaign(id, status: "completed")
        let counts = try await requestCounts(stack)
        #expect(counts.values.allSatisfy { $0 == 1 }, "a number was called twice")
        #expect(finished["contact_counts"]?["total"] == .int(200))
        #expect(finished["contact_counts"]?["pending"] == .int(0))
        #expect(counts.count >= 195, "only calls in flight at the kill may go unplaced; placed \(counts.count)")
    }

    @Test func aNumberAddedToDNCMidCampaignIsNotCalled() async throws {
        let stack = try await Stack.start(.dialing(cps: 20))
        defer { stack.stop() }
        let numbers = phoneNumbers(60)
        let id = try await stack.createCampaign()
        try await stack.upload(numbers, to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(nanoseconds: 500_000_000)
        let late = Array(numbers.suffix(10))
        let added = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["\#(late.joined(separator: "\",\""))"]}"#)
        #expect(added.status == 201)
        let finished = try await stack.waitForCampaign(id, status: "completed")
        let counts = try await requestCounts(stack)
        #expect(late.allSatisfy { counts[$0] == nil })
        #expect(finished["contact_counts"]?["skipped_dnc"] == .int(10))
        #expect(counts.count == 50)
    }

    @Test func contactsUploadedToARunningCampaignAreDialed() async throws {
        let stack = try await Stack.start(.dialing(cps: 50))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(20), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.upload(phoneNumbers(20, block: 2), to: id)
        let finished = try await stack.waitForCampaign(id, status: "completed")
        #expect(finished["contact_counts"]?["total"] == .int(40))
        #expect(try await requestCounts(stack).count == 40)
        // Completed campaigns take no more contacts and keep their agent.
        let late = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[{"phone_number":"15572000001"}]}"#)
        #expect(late.status == 409)
    }

    @Test func runningCampaignsRefuseChangesThatWouldAlterDialing() async throws {
        let stack = try await Stack.start(.dialing(cps: 2))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(20), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"agent_id":"other"}"#).status == 409)
        #expect(try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"call_from_number":"14155550199"}"#).status == 409)
        #expect(try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"name":"Renamed"}"#).status == 200)
        #expect(try await stack.client.request("DELETE", "/v1/campaigns/\(id)").status == 409)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/pause")
        #expect(try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"agent_id":"other"}"#).status == 200)
        // A paused campaign can be deleted once the calls it still has in progress have ended.
        var deleted = 0
        for _ in 0..<50 where deleted != 200 {
            deleted = try await stack.client.request("DELETE", "/v1/campaigns/\(id)").status
            #expect(deleted == 200 || deleted == 409)
            if deleted == 409 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(deleted == 200)
    }

    @Test func plivoRefusingOurCredentialsPausesTheCampaignWithAReason() async throws {
        let stack = try await Stack.start(.dialing(cps: 50, simulator: ["RYMI_SIM_FAULTS": "http401=1"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(10), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let paused = try await stack.waitForCampaign(id, status: "paused", timeout: 20)
        #expect(paused["paused_reason"]?.stringValue?.hasPrefix("plivo_auth_failed") == true)
        #expect(paused["contact_counts"]?["failed"] == .int(0))
        #expect(paused["contact_counts"]?["pending"] == .int(10))

        try await stack.setSimulatorFaults("http401=0")
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/resume")
        let finished = try await stack.waitForCampaign(id, status: "completed")
        #expect(finished["paused_reason"] == .null)
        #expect(finished["contact_counts"]?["pending"] == .int(0))
    }

    @Test func callsThatMayHaveFiredAreNeverRetried() async throws {
        // Plivo places the call but answers 500: callbacks tell the outcome, and nobody is called twice.
        let stack = try await Stack.start(.dialing(cps: 100, simulator: ["RYMI_SIM_FAULTS": "http500_after_firing=1"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(20), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed")
        #expect(try await requestCounts(stack).values.allSatisfy { $0 == 1 })
        #expect(finished["contact_counts"]?["failed"]?.intValue ?? 0 < 20, "callbacks resolved the calls")
        #expect(try await stack.contacts(id).allSatisfy { $0["failure_reason"] != .string("outcome_unknown") })
    }

    @Test func plivoErrorsThatPlacedNothingEndAsOutcomeUnknownNotRetries() async throws {
        let stack = try await Stack.start(.dialing(cps: 100, simulator: ["RYMI_SIM_FAULTS": "http500=1"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(5), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        #expect(finished["contact_counts"]?["failed"] == .int(5))
        #expect(try await requestCounts(stack).values.allSatisfy { $0 == 1 })
        for contact in try await stack.contacts(id) {
            #expect(contact["failure_reason"] == .string("outcome_unknown"))
        }
    }

    @Test func rateLimitedRequestsAreRetriedAndComplete() async throws {
        let stack = try await Stack.start(.dialing(cps: 100, simulator: ["RYMI_SIM_FAULTS": "http429=0.3"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(30), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed", timeout: 60)
        let (calls, requests) = try await stack.simulatorCalls()
        #expect(calls.count == 30)
        #expect(Set(calls.compactMap { $0["to"]?.stringValue }).count == 30)
        #expect(requests.count >= 30)
    }

    @Test func lostCallbacksAreResolvedByAskingPlivo() async throws {
        let stack = try await Stack.start(.dialing(cps: 100, simulator: ["RYMI_SIM_FAULTS": "drop_callbacks=1", "RYMI_SIM_OUTCOMES": "completed=50,busy=50"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(10), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed", timeout: 30)
        let outcomes = Dictionary(try await stack.simulatorCalls().calls.map { ($0["to"]?.stringValue ?? "", $0["outcome"]?.stringValue ?? "") }, uniquingKeysWith: { $1 })
        for contact in try await stack.contacts(id) {
            let expected = outcomes[contact["phone_number"]?.stringValue ?? ""] == "completed" ? "completed" : "failed"
            #expect(contact["status"] == .string(expected))
            #expect(contact["failure_reason"] != .string("outcome_unknown"))
        }
        // The operator is told that callbacks do not arrive, once, not per call.
        let said = stack.manager.logLines.filter { $0.contains("callbacks_missing") }
        #expect(said.count == 1 && said[0].contains("RYMI_PUBLIC_URL"), "\(said)")
    }

    @Test func answeredCallsStreamToTheAgentWithTheirIdentity() async throws {
        var options = StackOptions.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=1"])
        options.gateway = ["RYMI_AGENT_STREAM_URL": "wss://agents.example/ws"]
        let stack = try await Stack.start(options)
        defer { stack.stop() }
        let id = try await stack.createCampaign(agentID: "agent.7@team:eu")
        try await stack.upload(["15552234567"], to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed")
        let xml = try await stack.simulatorCalls().calls.first?["answer_xml"]?.stringValue ?? ""
        let contact = try await stack.contacts(id)[0]["id"]?.stringValue ?? "?"
        #expect(xml.contains("<Stream bidirectional=\"true\""))
        #expect(xml.contains("extraHeaders=\"agent_id=agent.7@team:eu,campaign_id=\(id),contact_id=\(contact)\""))
        #expect(xml.contains(">wss://agents.example/ws</Stream>"))
        // The agent reads the contact's variables through the API.
        let record = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(contact)")
        #expect(record.json?["variables"]?["n"] == .string("15552234567"))
    }
}

/// Callbacks that did not come from Plivo change nothing.
@Suite(.serialized) struct CallbackSecurityTests {
    func post(_ stack: Stack, _ target: String, fields: [(String, String)], headers: [(String, String)]) async throws -> HTTPResult {
        let body = FormEncodingForTests.encode(fields)
        return try await stack.client.request("POST", target, key: nil, json: body, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers)
    }

    @Test func forgedReplayedAndUnsignedCallbacksAreRefused() async throws {
        let stack = try await Stack.start(.dialing(dialers: 0))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(["15552230001", "15552230002"], to: id)
        let target = "/callbacks/plivo/hangup?contact=ct_1&attempt=1"
        let url = "http://127.0.0.1:\(stack.client.port)" + target
        let fields = [("CallUUID", "u1"), ("CallStatus", "completed"), ("HangupCauseCode", "4000")]

        let unsigned = try await post(stack, target, fields: fields, headers: [])
        #expect(unsigned.status == 403)
        #expect(unsigned.errorCode == "invalid_signature")
        let forged = PlivoSignature.v3(url: url, method: "POST", parameters: fields, nonce: "1", authToken: "not-the-token")
        #expect(try await post(stack, target, fields: fields, headers: [("X-Plivo-Signature-V3", forged), ("X-Plivo-Signature-V3-Nonce", "1")]).status == 403)
        // A valid signature for another contact's URL, replayed here.
        let other = PlivoSignature.v3(url: url.replacingOccurrences(of: "ct_1", with: "ct_2"), method: "POST", parameters: fields,
                                      nonce: "1", authToken: PlivoTestAccount.authToken)
        #expect(try await post(stack, target, fields: fields, headers: [("X-Plivo-Signature-V3", other), ("X-Plivo-Signature-V3-Nonce", "1")]).status == 403)
        // Tampered body under a valid signature.
        let valid = PlivoSignature.v3(url: url, method: "POST", parameters: fields, nonce: "1", authToken: PlivoTestAccount.authToken)
        var tampered = fields
        tampered[1] = ("CallStatus", "busy")
        #expect(try await post(stack, target, fields: tampered, headers: [("X-Plivo-Signature-V3", valid), ("X-Plivo-Signature-V3-Nonce", "1")]).status == 403)
        // Voicemail detection's callback is verified the same way: unsigned, forged, or a valid
        // signature moved from another callback are refused.
        let machine = "/callbacks/plivo/machine?contact=ct_1&attempt=1"
        let machineFields = [("CallUUID", "u1"), ("Machine", "true")]
        #expect(try await post(stack, machine, fields: machineFields, headers: []).status == 403)
        #expect(try await post(stack, machine, fields: machineFields, headers: [("X-Plivo-Signature-V3", valid), ("X-Plivo-Signature-V3-Nonce", "1")]).status == 403)
        let machineForged = PlivoSignature.v3(url: "http://127.0.0.1:\(stack.client.port)" + machine, method: "POST", parameters: machineFields,
                                              nonce: "2", authToken: "not-the-token")
        #expect(try await post(stack, machine, fields: machineFields, headers: [("X-Plivo-Signature-V3", machineForged), ("X-Plivo-Signature-V3-Nonce", "2")]).status == 403)
        #expect(try await stack.contacts(id).allSatisfy { $0["status"] == .string("pending") && $0["answered_by"] == .null })

        // A genuine callback for an attempt that does not exist is acknowledged and changes nothing.
        let genuine = try await post(stack, target, fields: fields, headers: [("X-Plivo-Signature-V3", valid), ("X-Plivo-Signature-V3-Nonce", "1")])
        #expect(genuine.status == 200)
        #expect(try await stack.contacts(id).allSatisfy { $0["status"] == .string("pending") })
        // A replay of the same genuine callback is acknowledged again and still changes nothing.
        let replay = try await post(stack, target, fields: fields, headers: [("X-Plivo-Signature-V3", valid), ("X-Plivo-Signature-V3-Nonce", "1")])
        #expect(replay.status == 200)
        #expect(try await stack.contacts(id).allSatisfy { $0["status"] == .string("pending") })
        // A valid legacy V2 signature is refused: V2 covers neither our query nor the body.
        let v2 = PlivoSignature.v2(url: url, nonce: "9", authToken: PlivoTestAccount.authToken)
        let legacy = try await post(stack, target, fields: fields, headers: [("X-Plivo-Signature-V2", v2), ("X-Plivo-Signature-V2-Nonce", "9")])
        #expect(legacy.status == 403)
        #expect(legacy.errorCode == "invalid_signature")
    }

    /// Issue 10: one observed V2 pair (nonce, signature) for a hangup URL was accepted for other
    /// contacts with `CallStatus=completed`, completing contacts whose calls were still live.
    @Test func aV2SignatureFromOneCallCannotCompleteAnotherLiveCall() async throws {
        let stack = try await Stack.start(.dialing(dialers: 1, simulator: ["RYMI_SIM_TALK_MS": "30000", "RYMI_SIM_OUTCOMES": "completed=1"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(["15552230001", "15552230002"], to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        var contacts: [JSONValue] = []
        for _ in 0..<200 {
            contacts = try await stack.contacts(id)
            if contacts.count == 2, contacts.allSatisfy({ $0["status"] == .string("dialed") && $0["call_uuid"] != .null }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(contacts.allSatisfy { $0["status"] == .string("dialed") })
        let victim = contacts[1]["id"]?.stringValue ?? "?"
        // A genuine V2 pair as Plivo would send it with the first contact's hangup callback...
        let observedURL = "http://127.0.0.1:\(stack.client.port)/callbacks/plivo/hangup?contact=\(contacts[0]["id"]?.stringValue ?? "?")&attempt=1"
        let v2 = PlivoSignature.v2(url: observedURL, nonce: "31415926535897932384", authToken: PlivoTestAccount.authToken)
        // ...replayed for the second contact with a forged outcome.
        let fields = [("CallUUID", contacts[1]["call_uuid"]?.stringValue ?? ""), ("CallStatus", "completed"), ("Duration", "9999"),
                      ("BillDuration", "9999"), ("HangupCauseCode", "4000")]
        // The victim's real attempt, from the answer URL the dialer gave the simulator.
        let victimCall = try await stack.simulatorCalls().calls.first { $0["to"] == contacts[1]["phone_number"] }
        let answerURL = URLComponents(string: victimCall?["answer_url"]?.stringValue ?? "")
        let attempt = try #require(answerURL?.queryItems?.first { $0.name == "attempt" }?.value)
        let forged = try await post(stack, "/callbacks/plivo/hangup?contact=\(victim)&attempt=\(attempt)", fields: fields,
                                    headers: [("X-Plivo-Signature-V2", v2), ("X-Plivo-Signature-V2-Nonce", "31415926535897932384")])
        #expect(forged.status == 403)
        let after = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(victim)")
        #expect(after.json?["status"] == .string("dialed"))
        #expect(after.json?["duration_seconds"] == .null)
    }
}

enum FormEncodingForTests {
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
            .joined(separator: "&")
    }
}
