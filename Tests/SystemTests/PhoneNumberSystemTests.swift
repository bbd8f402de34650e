import Foundation
import JSON
import SQLite
import Testing

/// Phone numbers validated per country (issue 12): national numbers need a country, one person
/// written several ways is one number everywhere, and numbers stored before are migrated.
@Suite struct PhoneNumberSystemTests {
    @Test func aNationalNumberNeedsTheCampaignsDefaultCountry() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let refused = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[{"phone_number":"4155550100"}]}"#)
        #expect(refused.status == 422)
        #expect(refused.json?["error"]?["details"]?.arrayValue?.first?["field"] == .string("phone_number"))
        #expect(refused.text.contains("default_country"))

        let bad = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"default_country":"USA"}"#)
        #expect(bad.status == 422 && bad.text.contains("default_country"))
        let updated = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"default_country":"us"}"#)
        #expect(updated.json?["default_country"] == .string("US"))
        let accepted = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[{"phone_number":"(415) 555-0100"}]}"#)
        #expect(accepted.status == 201)
        #expect(try await stack.contacts(id).map { $0["phone_number"] } == [.string("14155550100")])
        // A number written with its country code needs no default; null clears the default.
        let cleared = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"default_country":null}"#)
        #expect(cleared.json?["default_country"] == .null)

        let created = try await stack.client.request("POST", "/v1/campaigns",
                                                     json: #"{"name":"UK","agent_id":"a","call_from_number":"020 7946 0958","default_country":"GB"}"#)
        #expect(created.status == 201)
        let campaign = try await stack.campaign(created.json?["campaign_id"]?.stringValue ?? "")
        #expect(campaign["call_from_number"] == .string("442079460958") && campaign["default_country"] == .string("GB"))
        let noCountry = try await stack.client.request("POST", "/v1/campaigns", json: #"{"name":"x","agent_id":"a","call_from_number":"020 7946 0958"}"#)
        #expect(noCountry.status == 422 && noCountry.text.contains("call_from_number"))
    }

    /// The same person in three spellings across the upload and the DNC list is one number, and
    /// is never dialed.
    @Test func onePersonWrittenThreeWaysIsNeverDialedOnceListed() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let created = try await stack.client.request("POST", "/v1/campaigns",
                                                     json: #"{"name":"x","agent_id":"a","call_from_number":"14155550199","default_country":"US","timezone":"\#(middayZone)"}"#)
        let id = created.json?["campaign_id"]?.stringValue ?? ""
        let upload = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: """
            {"contacts":[{"phone_number":"(415) 555-0100"},{"phone_number":"1-415-555-0100"},{"phone_number":"+1 555 200 0100"}]}
            """)
        #expect(upload.json?["inserted_count"] == .int(2) && upload.json?["skipped_duplicates"] == .int(1))
        let listed = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["+1 415 555 0100"]}"#)
        #expect(listed.json?["added_count"] == .int(1))
        let again = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["415.555.0100"],"default_country":"US"}"#)
        #expect(again.json?["already_listed_count"] == .int(1))
        #expect(try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["415.555.0100"]}"#).status == 422)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed")
        #expect(finished["contact_counts"]?["skipped_dnc"] == .int(1))
        let called = try await stack.simulatorCalls().requests.compactMap { $0["to"]?.stringValue }
        #expect(called == ["15552000100"])
        #expect(try await stack.client.request("DELETE", "/v1/dnc/(415)%20555-0100?default_country=US").status == 200)
    }

    /// Numbers stored before they were validated per country: pending ones that are no phone
    /// number are failed with `invalid_number` instead of dialed; the rest are untouched.
    @Test func pendingContactsWhoseStoredNumbersAreInvalidAreFailedByTheMigration() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(["15559990001"], to: id)
        stack.killManager()
        // The database as version 4 left it: an unvalidated number, the later migrations not run.
        let database = try Database(path: stack.dataDirectory.appendingPathComponent("rymi.sqlite").path)
        try database.execute("""
            INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at)
            SELECT campaign_seq, '4155550100', '{}', 'pending', created_at, updated_at FROM contacts LIMIT 1;
            UPDATE campaigns SET pending_count = pending_count + 1;
            ALTER TABLE campaigns DROP COLUMN default_country;
            ALTER TABLE dnc DROP COLUMN source;
            ALTER TABLE dnc DROP COLUMN contact_id;
            DROP TABLE account_numbers;
            DROP TABLE attempts;
            DROP TABLE dnc_versions;
            DROP INDEX contacts_waiting_window;
            ALTER TABLE campaigns DROP COLUMN calling_window;
            ALTER TABLE campaigns DROP COLUMN timezone;
            ALTER TABLE contacts DROP COLUMN timezone;
            ALTER TABLE contacts DROP COLUMN window_opens_at;
            ALTER TABLE campaigns DROP COLUMN canceled_count;
            DROP INDEX contacts_waiting_redial;
            ALTER TABLE campaigns DROP COLUMN retry_policy;
            ALTER TABLE contacts DROP COLUMN attempt_count;
            ALTER TABLE contacts DROP COLUMN placement_uncertain;
            ALTER TABLE contacts DROP COLUMN next_attempt_at;
            ALTER TABLE campaigns DROP COLUMN start_at;
            ALTER TABLE campaigns DROP COLUMN end_at;
            ALTER TABLE campaigns DROP COLUMN expired_count;
            ALTER TABLE campaigns DROP COLUMN max_concurrent_calls;
            ALTER TABLE campaigns DROP COLUMN calls_per_second;
            ALTER TABLE campaigns DROP COLUMN machine_detection;
            ALTER TABLE campaigns DROP COLUMN machine_detection_time;
            ALTER TABLE contacts DROP COLUMN answered_by;
            DROP TABLE webhooks;
            DROP TABLE webhook_events;
            DROP TABLE webhook_deliveries;
            DROP TABLE campaign_stats;
            DROP TABLE campaign_failure_reasons;
            DROP TABLE campaign_talk_times;
            DROP TABLE campaign_minutes;
            DROP TABLE webhook_bulk_events;
            ALTER TABLE contacts DROP COLUMN event_batch;
            DROP TABLE idempotency_keys;
            DELETE FROM schema_migrations WHERE version >= 5;
            """)
        try await stack.startManager()
        for _ in 0..<100 where try await stack.client.request("GET", "/v1/campaigns/\(id)").status != 200 {
            try await Task.sleep(for: .milliseconds(100))
        }
        let contacts = try await stack.contacts(id)
        let invalid = contacts.first { $0["phone_number"] == .string("4155550100") }
        #expect(invalid?["status"] == .string("failed") && invalid?["failure_reason"] == .string("invalid_number"))
        #expect(contacts.first { $0["phone_number"] == .string("15559990001") }?["status"] == .string("pending"))
        let counts = try await stack.campaign(id)["contact_counts"]
        #expect(counts?["pending"] == .int(1) && counts?["failed"] == .int(1))
    }
}

/// Opt-out from the call (issue 12): the callee's number goes on the account's list at once.
@Suite struct OptOutSystemTests {
    @Test func anOptOutStopsEveryLaterCallToTheNumber() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let first = try await stack.createCampaign()
        try await stack.upload(["15552000100", "15552000101"], to: first)
        let contact = try await stack.contacts(first)[0]["id"]?.stringValue ?? ""
        // Another tenant cannot opt out acme's contact.
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(first)/contacts/\(contact)/opt-out", key: Keys.globex).status == 404)
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(first)/contacts/ct_999999/opt-out").status == 404)
        let optOut = try await stack.client.request("POST", "/v1/campaigns/\(first)/contacts/\(contact)/opt-out")
        #expect(optOut.status == 200)
        #expect(optOut.json?["phone_number"] == .string("15552000100") && optOut.json?["already_listed"] == .bool(false))
        let again = try await stack.client.request("POST", "/v1/campaigns/\(first)/contacts/\(contact)/opt-out")
        #expect(again.json?["already_listed"] == .bool(true))
        let entry = try await stack.client.request("GET", "/v1/dnc").json?["entries"]?.arrayValue?.first
        #expect(entry?["source"] == .string("opt_out") && entry?["contact_id"] == .string(contact))

        // A later campaign of the same account with the same person is not dialed for them.
        let second = try await stack.createCampaign()
        try await stack.upload(["+1 (555) 200-0100", "15552000102"], to: second)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(second)/start")
        let finished = try await stack.waitForCampaign(second, status: "completed")
        #expect(finished["contact_counts"]?["skipped_dnc"] == .int(1))
        #expect(try await stack.simulatorCalls().requests.compactMap { $0["to"]?.stringValue } == ["15552000102"])
        // Entries added through the API say so.
        _ = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["+1 212 555 0100"]}"#)
        let entries = try await stack.client.request("GET", "/v1/dnc").json?["entries"]?.arrayValue ?? []
        #expect(entries.first { $0["phone_number"] == .string("12125550100") }?["source"] == .string("api"))
    }
}

/// Caller IDs the account owns (issue 12): no account dials from another's number.
@Suite struct CallerIDSystemTests {
    @Test func oneAccountCannotDialFromAnotherAccountsNumber() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        // acme holds +1 415 555 0100 (seeded by RYMI_ACCOUNT_NUMBERS); globex may not use it.
        let spoofed = try await stack.client.request("POST", "/v1/campaigns", key: Keys.globex,
                                                     json: #"{"name":"x","agent_id":"a","call_from_number":"+1 415 555 0100"}"#)
        #expect(spoofed.status == 422 && spoofed.json?["error"]?["code"] == .string("number_not_owned"))
        #expect(try await stack.client.request("POST", "/v1/numbers", key: Keys.globex, json: #"{"phone_number":"+14155550100"}"#).status == 409)
        let own = try await stack.client.request("POST", "/v1/numbers", key: Keys.globex, json: #"{"phone_number":"(212) 555-0100","default_country":"US"}"#)
        #expect(own.status == 201 && own.json?["phone_number"] == .string("12125550100"))
        #expect(try await stack.client.request("POST", "/v1/numbers", key: Keys.globex, json: #"{"phone_number":"+12125550100"}"#).status == 200)
        let listed = try await stack.client.request("GET", "/v1/numbers", key: Keys.globex)
        #expect(listed.json?["numbers"]?.arrayValue?.map { $0["phone_number"] } == [.string("12125550100")])
        let created = try await stack.client.request("POST", "/v1/campaigns", key: Keys.globex,
                                                     json: #"{"name":"x","agent_id":"a","call_from_number":"+12125550100"}"#)
        #expect(created.status == 201)
        let id = created.json?["campaign_id"]?.stringValue ?? ""
        // PUT to another's number is refused too; a number removed since is refused at start.
        let moved = try await stack.client.request("PUT", "/v1/campaigns/\(id)", key: Keys.globex, json: #"{"call_from_number":"+14155550199"}"#)
        #expect(moved.status == 422 && moved.json?["error"]?["code"] == .string("number_not_owned"))
        try await stack.upload(["15559990001"], to: id, key: Keys.globex)
        #expect(try await stack.client.request("DELETE", "/v1/numbers/+12125550100", key: Keys.acme).status == 404)
        #expect(try await stack.client.request("DELETE", "/v1/numbers/%2B12125550100", key: Keys.globex).status == 200)
        let start = try await stack.client.request("POST", "/v1/campaigns/\(id)/start", key: Keys.globex)
        #expect(start.status == 422 && start.json?["error"]?["code"] == .string("number_not_owned"))
        #expect(try await stack.campaign(id, key: Keys.globex)["status"] == .string("draft"))
    }

    @Test func theManagerRefusesToGiveOneNumberToTwoAccounts() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-numbers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: data) }
        let manager = try ServiceProcess("rymi-manager", environment: [
            "RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_DATA_DIR": data.path, "RYMI_ACCOUNT_NUMBERS": "acme:+14155550100,globex:+1 415 555 0100",
        ])
        defer { manager.stop() }
        let status = await manager.waitForExit(timeout: 10)
        #expect(status == 2)
        #expect(manager.standardError.contains("RYMI_ACCOUNT_NUMBERS") && manager.standardError.contains("another account"))
    }
}

/// Calling windows in the callee's local time (issue 12).
@Suite struct CallingWindowSystemTests {
    /// A zone where it is about midnight now: outside any window.
    static let midnightZone = zoneWhereItIsNow(hour: 0)

    @Test func onlyCalleesInsideTheirWindowAreDialedAndTheOthersWait() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let upload = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: """
            {"contacts":[{"phone_number":"15552000001","timezone":"\(middayZone)"},{"phone_number":"15552000002","timezone":"\(Self.midnightZone)"},
            {"phone_number":"15552000003"}]}
            """)
        #expect(upload.status == 201)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        // The two callable ones (their own zone, and the campaign's) are dialed; the third waits.
        var campaign = try await stack.campaign(id)
        func ended(_ campaign: JSONValue) -> Int {
            (campaign["contact_counts"]?["completed"]?.intValue ?? 0) + (campaign["contact_counts"]?["failed"]?.intValue ?? 0)
        }
        for _ in 0..<100 where ended(campaign) < 2 {
            try await Task.sleep(for: .milliseconds(100))
            campaign = try await stack.campaign(id)
        }
        let called = try await stack.simulatorCalls().requests.compactMap { $0["to"]?.stringValue }.sorted()
        #expect(called == ["15552000001", "15552000003"])
        #expect(campaign["status"] == .string("running"))
        #expect(campaign["contact_counts"]?["waiting_window"] == .int(1))
        #expect(campaign["next_window_opens_at"]?.stringValue != nil)
        let waiting = try await stack.contacts(id).first { $0["phone_number"] == .string("15552000002") }
        #expect(waiting?["status"] == .string("pending") && waiting?["window_opens_at"]?.stringValue != nil)
        #expect(waiting?["timezone"] == .string(Self.midnightZone))

        // Why the call to the first was allowed: one attempt, its decision and its outcome.
        _ = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["+1 555 999 0009"]}"#)
        let dialed = try await stack.contacts(id).first { $0["phone_number"] == .string("15552000001") }
        let contact = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(dialed?["id"]?.stringValue ?? "")")
        let attempts = contact.json?["attempts"]?.arrayValue ?? []
        #expect(attempts.count == 1)
        let decision = attempts.first?["decision"]
        #expect(decision?["timezone"] == .string(middayZone) && decision?["timezone_source"] == .string("contact"))
        #expect(decision?["dnc_list_version"] == .int(0) && decision?["local_time"]?.stringValue?.contains("T12:") == true)
        #expect(decision?["calling_window"]?["start"] == .string("08:00"))
        #expect(["completed", "failed"].map(JSONValue.string).contains(attempts.first?["outcome"] ?? .null))
        #expect(attempts.first?["request_uuid"]?.stringValue != nil)
        // The list of contacts stays light: no attempts there.
        #expect(dialed?["attempts"] == nil)
    }

    @Test func windowsAreValidatedAndHeldToTheTCPAForUSCampaigns() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let wide = try await stack.client.request("POST", "/v1/campaigns",
                                                  json: #"{"name":"x","agent_id":"a","calling_window":{"start":"07:00","end":"21:00"}}"#)
        #expect(wide.status == 422 && wide.text.contains("TCPA"))
        let created = try await stack.client.request("POST", "/v1/campaigns", json: """
            {"name":"x","agent_id":"a","calling_window":{"start":"09:00","end":"20:00","days":["mon","tue","wed","thu","fri"]},"timezone":"America/Chicago"}
            """)
        #expect(created.status == 201)
        let campaign = try await stack.campaign(created.json?["campaign_id"]?.stringValue ?? "")
        #expect(campaign["calling_window"] == .object([("start", .string("09:00")), ("end", .string("20:00")),
                                                        ("days", .array(["mon", "tue", "wed", "thu", "fri"].map(JSONValue.string)))]))
        #expect(campaign["timezone"] == .string("America/Chicago"))
        let uk = try await stack.client.request("POST", "/v1/campaigns",
                                                json: #"{"name":"x","agent_id":"a","default_country":"GB","calling_window":{"start":"07:30","end":"21:30"}}"#)
        #expect(uk.status == 201)
        for bad in [#"{"start":"9:00","end":"20:00"}"#, #"{"start":"20:00","end":"09:00"}"#, #"{"start":"09:00","end":"20:00","days":["funday"]}"#, #""9-5""#] {
            let response = try await stack.client.request("POST", "/v1/campaigns", json: #"{"name":"x","agent_id":"a","calling_window":\#(bad)}"#)
            #expect(response.status == 422, "\(bad)")
        }
        let badZone = try await stack.client.request("POST", "/v1/campaigns", json: #"{"name":"x","agent_id":"a","timezone":"Mars/Olympus"}"#)
        #expect(badZone.status == 422)
        // A country with several zones needs the campaign's zone (or the contact's) to start.
        let id = try await stack.createCampaign()
        _ = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"timezone":null}"#)
        try await stack.upload(["+61 4 1234 5678"], to: id)
        let start = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        #expect(start.status == 422 && start.text.contains("time zone"))
    }
}
