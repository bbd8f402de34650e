import Foundation
import JSON
import Testing

@Suite(.serialized) struct ContactsAPITests {
    /// The spec's own curl example, as written: `-d` sends the JSON as a form.
    @Test func acceptsTheSpecExampleFromCurl() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let arguments = ["-s", "-w", "\n%{http_code}", "-X", "POST", "http://127.0.0.1:\(stack.client.port)/v1/campaigns/\(id)/contacts",
                         "-H", "Authorization: Bearer \(Keys.acme)", "-d", """
            {
                "contacts": [
                  { "phone_number": "15559990001", "variables": { "name": "Alice", "plan": "Gold" } },
                  { "phone_number": "15559990002", "variables": { "name": "Bob", "plan": "Silver" } }
                ]
              }
            """]
        let (_, output) = try await runTool(["/usr/bin/curl"] + arguments, separateErrors: true)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        #expect(lines.last == "201")
        let body = try JSONParser.parse(String(lines.first ?? ""))
        #expect(body["status"] == .string("success"))
        #expect(body["inserted_count"] == .int(2))

        let list = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts")
        let contacts = try #require(list.json?["contacts"]?.arrayValue)
        #expect(contacts.map { $0["phone_number"] } == [.string("15559990001"), .string("15559990002")])
        #expect(contacts[0]["variables"] == .object([("name", .string("Alice")), ("plan", .string("Gold"))]))
        #expect(contacts[0]["status"] == .string("pending"))

        let contactID = try #require(contacts[1]["id"]?.stringValue)
        let one = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/\(contactID)")
        #expect(one.status == 200)
        #expect(one.json?["variables"]?["name"] == .string("Bob"))
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/ct_999999").status == 404)
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts/bogus").status == 404)
    }

    @Test func skipsDuplicatesWithinAndAcrossUploads() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let first = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"""
            {"contacts":[{"phone_number":"15559990001"},{"phone_number":"+1 555 999 0001"},{"phone_number":"15559990002"}]}
            """#)
        #expect(first.status == 201)
        #expect(first.json?["inserted_count"] == .int(2))
        #expect(first.json?["skipped_duplicates"] == .int(1))
        let second = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"""
            {"contacts":[{"phone_number":"15559990002"},{"phone_number":"15559990003"}]}
            """#)
        #expect(second.json?["inserted_count"] == .int(1))
        #expect(second.json?["skipped_duplicates"] == .int(1))
        let campaign = try await stack.client.request("GET", "/v1/campaigns/\(id)")
        #expect(campaign.json?["contact_counts"]?["pending"] == .int(3))
        #expect(campaign.json?["contact_counts"]?["total"] == .int(3))
    }

    @Test func refusesTheWholeUploadIfAnyRowIsInvalid() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let response = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"""
            {"contacts":[{"phone_number":"15559990001"},{"phone_number":"12"},{"phone_number":"15559990003","variables":"x"},{"phone_number":"15559990004","name":"x"}]}
            """#)
        #expect(response.status == 422)
        #expect(response.errorCode == "invalid_contacts")
        let details = try #require(response.json?["error"]?["details"]?.arrayValue)
        #expect(details.compactMap { $0["index"]?.intValue } == [1, 2, 3])
        #expect(details[0]["field"] == .string("phone_number"))
        let campaign = try await stack.client.request("GET", "/v1/campaigns/\(id)")
        #expect(campaign.json?["contact_counts"]?["total"] == .int(0))

        for body in [#"{}"#, #"{"contacts":[]}"#, #"{"contacts":{}}"#, #"{"contacts":[],"extra":1}"#] {
            #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: body).status == 422, "\(body)")
        }
        let missing = try await stack.client.request("POST", "/v1/campaigns/cmp_00000000-0000-0000-0000-000000000000/contacts",
                                                     json: #"{"contacts":[{"phone_number":"15559990001"}]}"#)
        #expect(missing.status == 404)
    }

    @Test func pagesAndFiltersContacts() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let numbers = phoneNumbers(25)
        let body = #"{"contacts":["# + numbers.map { #"{"phone_number":"\#($0)","variables":{"i":"\#($0)"}}"# }.joined(separator: ",") + "]}"
        #expect(try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: body).status == 201)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts?limit=10" + (cursor.map { "&cursor=\($0)" } ?? ""))
            seen += page.json?["contacts"]?.arrayValue?.compactMap { $0["phone_number"]?.stringValue } ?? []
            cursor = page.json?["next_cursor"]?.stringValue
        } while cursor != nil
        #expect(seen == numbers)
        let pending = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts?status=pending&limit=1000")
        #expect(pending.json?["contacts"]?.arrayValue?.count == 25)
        let completed = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts?status=completed")
        #expect(completed.json?["contacts"]?.arrayValue?.count == 0)
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts?status=bogus").status == 422)
    }

    @Test func storesHostileStringsVerbatim() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign(name: #"Robert'); DROP TABLE campaigns;--"#)
        let variables = #"{"q":"it's \"quoted\"","sql":"' OR 1=1 --","emoji":"😀👍🏽","nested":{"a":[1,2,{"b":null}]},"big":123456789012345678901234567890}"#
        let response = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts",
                                                      json: #"{"contacts":[{"phone_number":"15559990001","variables":\#(variables)}]}"#)
        #expect(response.status == 201)
        let list = try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts")
        #expect(list.json?["contacts"]?.arrayValue?.first?["variables"]?.jsonText == variables)
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)").json?["name"] == .string(#"Robert'); DROP TABLE campaigns;--"#))
    }

    @Test func acceptsOneHundredThousandContactsInOneRequest() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        var body = #"{"contacts":["#
        for (index, number) in phoneNumbers(100_000).enumerated() {
            if index > 0 { body += "," }
            body += #"{"phone_number":"\#(number)","variables":{"name":"Customer \#(index)","plan":"Gold"}}"#
        }
        body += "]}"
        let response = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: body)
        #expect(response.status == 201, "\(response.text)")
        #expect(response.json?["inserted_count"] == .int(100_000))
        let campaign = try await stack.client.request("GET", "/v1/campaigns/\(id)")
        #expect(campaign.json?["contact_counts"]?["pending"] == .int(100_000))
    }
}
