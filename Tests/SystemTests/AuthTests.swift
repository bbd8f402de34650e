import Foundation
import JSON
import Testing

@Suite(.serialized) struct AuthTests {
    @Test func refusesMissingAndWrongKeys() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let missing = try await stack.client.request("GET", "/v1/campaigns", key: nil)
        #expect(missing.status == 401)
        #expect(missing.errorCode == "unauthorized")
        #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try await stack.client.request("GET", "/v1/campaigns", key: "key_nobody_0123456789abcdef")
        #expect(wrong.status == 401)
        #expect(wrong.header("WWW-Authenticate")?.contains("invalid_token") == true)
        let basic = try await stack.client.request("GET", "/v1/campaigns", key: nil, headers: [("Authorization", "Basic YTpi")])
        #expect(basic.status == 401)
        // Unknown routes under /v1 do not reveal themselves to the unauthenticated.
        #expect(try await stack.client.request("GET", "/v1/secret", key: nil).status == 401)
        // Health needs no key.
        #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)
        // Keys never reach the logs.
        #expect(!stack.gateway.logLines.joined().contains("key_"))
    }

    @Test func anotherAccountsCampaignIsNotFoundEverywhere() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign(key: Keys.acme)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", key: Keys.acme, json: #"{"contacts":[{"phone_number":"15559990001"}]}"#)
        let contactID = try #require(try await stack.client.request("GET", "/v1/campaigns/\(id)/contacts").json?["contacts"]?.arrayValue?.first?["id"]?.stringValue)
        let attempts: [(String, String, String?)] = [
            ("GET", "/v1/campaigns/\(id)", nil),
            ("PUT", "/v1/campaigns/\(id)", #"{"name":"mine now"}"#),
            ("DELETE", "/v1/campaigns/\(id)", nil),
            ("POST", "/v1/campaigns/\(id)/contacts", #"{"contacts":[{"phone_number":"15559990002"}]}"#),
            ("GET", "/v1/campaigns/\(id)/contacts", nil),
            ("GET", "/v1/campaigns/\(id)/contacts/\(contactID)", nil),
        ]
        for (method, path, body) in attempts {
            let response = try await stack.client.request(method, path, key: Keys.globex, json: body)
            #expect(response.status == 404, "\(method) \(path)")
            #expect(!response.text.contains("15559990001"))
        }
        let theirs = try await stack.client.request("GET", "/v1/campaigns", key: Keys.globex)
        #expect(theirs.json?["campaigns"]?.arrayValue?.isEmpty == true)
        // Nothing changed for the owner.
        let owner = try await stack.client.request("GET", "/v1/campaigns/\(id)", key: Keys.acme)
        #expect(owner.json?["name"] == .string("Spring renewals"))
        #expect(owner.json?["contact_counts"]?["total"] == .int(1))
    }
}
