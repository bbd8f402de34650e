import Foundation
import JSON
import Testing

@Suite(.serialized) struct CampaignAPITests {
    @Test func createsGetsUpdatesListsAndDeletes() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let client = stack.client

        let created = try await client.request("POST", "/v1/campaigns", json: #"{"name":"Spring","agent_id":"agent_1","call_from_number":"+1 (415) 555-0100"}"#)
        #expect(created.status == 201)
        #expect(created.json?["status"] == .string("created"))
        let id = try #require(created.json?["campaign_id"]?.stringValue)
        #expect(id.hasPrefix("cmp_") && id.count == 40)
        #expect(created.header("Location") == "/v1/campaigns/\(id)")
        #expect(created.header("Content-Type") == "application/json")

        let fetched = try await client.request("GET", "/v1/campaigns/\(id)")
        #expect(fetched.status == 200)
        let campaign = try #require(fetched.json)
        #expect(campaign["id"] == .string(id))
        #expect(campaign["name"] == .string("Spring"))
        #expect(campaign["agent_id"] == .string("agent_1"))
        #expect(campaign["call_from_number"] == .string("14155550100"))
        #expect(campaign["status"] == .string("draft"))
        #expect(campaign["created_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(campaign["contact_counts"]?["total"] == .int(0))

        let updated = try await client.request("PUT", "/v1/campaigns/\(id)", json: #"{"name":"Summer"}"#)
        #expect(updated.status == 200)
        #expect(updated.json?["name"] == .string("Summer"))
        #expect(updated.json?["agent_id"] == .string("agent_1"))
        let refetched = try await client.request("GET", "/v1/campaigns/\(id)")
        #expect(refetched.json?["name"] == .string("Summer"))

        let deleted = try await client.request("DELETE", "/v1/campaigns/\(id)")
        #expect(deleted.status == 200)
        #expect(deleted.json?["status"] == .string("deleted"))
        #expect(try await client.request("GET", "/v1/campaigns/\(id)").status == 404)
        #expect(try await client.request("DELETE", "/v1/campaigns/\(id)").status == 404)
    }

    @Test func listsNewestFirstWithAnOpaqueCursor() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        var ids: [String] = []
        for index in 0..<7 { ids.append(try await stack.createCampaign(name: "c\(index)")) }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let path = "/v1/campaigns?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try await stack.client.request("GET", path)
            #expect(page.status == 200)
            let campaigns = try #require(page.json?["campaigns"]?.arrayValue)
            #expect(campaigns.count <= 3)
            seen += campaigns.compactMap { $0["id"]?.stringValue }
            cursor = page.json?["next_cursor"]?.stringValue
        } while cursor != nil
        #expect(seen == ids.reversed())

        let whole = try await stack.client.request("GET", "/v1/campaigns")
        #expect(whole.json?["campaigns"]?.arrayValue?.count == 7)
        #expect(whole.json?["next_cursor"] == .null)

        for bad in ["/v1/campaigns?limit=0", "/v1/campaigns?limit=1001", "/v1/campaigns?limit=x", "/v1/campaigns?cursor=garbage", "/v1/campaigns?colour=red"] {
            let response = try await stack.client.request("GET", bad)
            #expect(response.status == 422, "\(bad)")
            #expect(response.errorCode == "validation_failed")
        }
    }

    @Test func validatesCampaignFields() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let client = stack.client
        let cases: [(String, String)] = [
            (#"{"agent_id":"a"}"#, "name"),
            (#"{"name":"n"}"#, "agent_id"),
            (#"{"name":"","agent_id":"a"}"#, "name"),
            (#"{"name":"   ","agent_id":"a"}"#, "name"),
            (#"{"name":5,"agent_id":"a"}"#, "name"),
            (#"{"name":"n","agent_id":null}"#, "agent_id"),
            (#"{"name":"\#(String(repeating: "x", count: 201))","agent_id":"a"}"#, "name"),
            (#"{"name":"n","agent_id":"a","call_from_number":"abc"}"#, "call_from_number"),
            (#"{"name":"n","agent_id":"a","call_from_number":123}"#, "call_from_number"),
            (#"{"name":"n","agent_id":"a","colour":"red"}"#, "colour"),
        ]
        for (body, field) in cases {
            let response = try await client.request("POST", "/v1/campaigns", json: body)
            #expect(response.status == 422, "\(body)")
            #expect(response.errorCode == "validation_failed")
            let fields = response.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue }
            #expect(fields?.contains(field) == true, "\(body): \(response.text)")
        }

        let malformed = try await client.request("POST", "/v1/campaigns", json: #"{"name":"n","#)
        #expect(malformed.status == 400)
        #expect(malformed.errorCode == "invalid_json")
        #expect(try await client.request("POST", "/v1/campaigns", json: "[1,2]").status == 400)
        #expect(try await client.request("POST", "/v1/campaigns", json: #"{"name":"a","name":"b","agent_id":"x"}"#).status == 400)
        #expect(try await client.request("POST", "/v1/campaigns").status == 400)
        let xml = try await client.request("POST", "/v1/campaigns", json: "<campaign/>", headers: [("Content-Type", "application/xml")])
        #expect(xml.status == 415)
        #expect(xml.errorCode == "unsupported_media_type")
        let gzip = try await client.request("POST", "/v1/campaigns", json: #"{"name":"n","agent_id":"a"}"#, headers: [("Content-Encoding", "gzip")])
        #expect(gzip.status == 415)
        // JSON under a form content type is still JSON (`curl -d` does this).
        let form = try await client.request("POST", "/v1/campaigns", json: #"{"name":"n","agent_id":"a"}"#,
                                            headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(form.status == 201)
    }

    @Test func updateRefusesUnknownFieldsAndEmptyBodies() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        for body in [#"{}"#, #"{"nme":"typo"}"#, #"{"name":null}"#, #"{"status":"running"}"#, #"{"call_from_number":"1"}"#] {
            let response = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: body)
            #expect(response.status == 422, "\(body)")
        }
        let updated = try await stack.client.request("PUT", "/v1/campaigns/\(id)", json: #"{"agent_id":"agent_9","call_from_number":"+442079460958"}"#)
        #expect(updated.json?["agent_id"] == .string("agent_9"))
        #expect(updated.json?["call_from_number"] == .string("442079460958"))
        #expect(updated.json?["name"] == .string("Spring renewals"))
        #expect(try await stack.client.request("PUT", "/v1/campaigns/cmp_00000000-0000-0000-0000-000000000000", json: #"{"name":"x"}"#).status == 404)
    }

    @Test func answersUnknownRoutesAndMethodsInJSON() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let unknown = try await stack.client.request("GET", "/v1/nothing")
        #expect(unknown.status == 404)
        #expect(unknown.errorCode == "not_found")
        #expect(try await stack.client.request("GET", "/elsewhere", key: nil).status == 404)
        let wrongMethod = try await stack.client.request("PATCH", "/v1/campaigns")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("Allow") == "POST, GET, HEAD")
        #expect(wrongMethod.errorCode == "method_not_allowed")
        #expect(try await stack.client.request("GET", "/v1/campaigns/not-an-id").status == 404)
        let head = try await stack.client.request("HEAD", "/v1/campaigns")
        #expect(head.status == 200 && head.body.isEmpty)
    }

    @Test func echoesOrAssignsRequestIDs() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let given = try await stack.client.request("GET", "/healthz", key: nil, headers: [("X-Request-Id", "trace-123")])
        #expect(given.header("X-Request-Id") == "trace-123")
        let assigned = try await stack.client.request("GET", "/healthz", key: nil, headers: [("X-Request-Id", "bad id\twith tab")])
        #expect(assigned.header("X-Request-Id")?.hasPrefix("req_") == true)
    }
}
