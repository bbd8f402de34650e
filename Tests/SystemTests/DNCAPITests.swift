import Foundation
import JSON
import Testing

@Suite(.serialized) struct DNCAPITests {
    @Test func addsListsPagesAndRemovesNumbersPerAccount() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let added = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["+1 555 200 0003","15552000001","15552000002","15552000001"]}"#)
        #expect(added.status == 201)
        #expect(added.json?["added_count"] == .int(3) && added.json?["already_listed_count"] == .int(1))
        let again = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["15552000003"]}"#)
        #expect(again.json?["added_count"] == .int(0) && again.json?["already_listed_count"] == .int(1))

        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await stack.client.request("GET", "/v1/dnc?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == 200)
            seen += page.json?["phone_numbers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(page.json?["entries"]?.arrayValue?.allSatisfy { $0["created_at"]?.stringValue != nil } == true)
            cursor = page.json?["next_cursor"]?.stringValue
        } while cursor != nil
        #expect(seen == ["15552000001", "15552000002", "15552000003"])

        // Another account has its own list.
        #expect(try await stack.client.request("GET", "/v1/dnc", key: Keys.globex).json?["phone_numbers"] == .array([]))
        #expect(try await stack.client.request("DELETE", "/v1/dnc/15552000001", key: Keys.globex).status == 404)

        let removed = try await stack.client.request("DELETE", "/v1/dnc/%2B15552000001")
        #expect(removed.status == 200 && removed.json?["phone_number"] == .string("15552000001"))
        #expect(try await stack.client.request("DELETE", "/v1/dnc/15552000001").status == 404)
        #expect(try await stack.client.request("DELETE", "/v1/dnc/not-a-number").status == 404)
        #expect(try await stack.client.request("GET", "/v1/dnc").json?["phone_numbers"] == .array([.string("15552000002"), .string("15552000003")]))
    }

    @Test func refusesInvalidNumbersAllOrNothing() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let bad = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["15552000001","12",5,"abc"]}"#)
        #expect(bad.status == 422)
        #expect(bad.errorCode == "invalid_phone_numbers")
        #expect(bad.json?["error"]?["details"]?.arrayValue?.compactMap { $0["index"]?.intValue } == [1, 2, 3])
        #expect(try await stack.client.request("GET", "/v1/dnc").json?["phone_numbers"] == .array([]))
        for body in [#"{}"#, #"{"phone_numbers":[]}"#, #"{"phone_numbers":"15552000001"}"#, #"{"numbers":["15552000001"]}"#] {
            #expect(try await stack.client.request("POST", "/v1/dnc", json: body).status == 422, "\(body)")
        }
        #expect(try await stack.client.request("POST", "/v1/dnc", key: nil, json: #"{"phone_numbers":["15552000001"]}"#).status == 401)
        #expect(try await stack.client.request("GET", "/v1/dnc?limit=0").status == 422)
    }
}
