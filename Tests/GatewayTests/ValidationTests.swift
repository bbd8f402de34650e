@testable import Gateway
import JSON
import Testing

@Suite struct ContactValidationTests {
    func items(_ text: String) -> [JSONValue] { try! JSONParser.parse(text).arrayValue! }

    @Test func normalisesAndKeepsVariables() throws {
        let contacts = try CampaignAPI.validateContacts(items(#"[{"phone_number":"+1 555 999 0001","variables":{"name":"O'Brien \"Bob\"","n":1}},{"phone_number":"15559990002"}]"#))
        #expect(contacts.map(\.phoneNumber) == ["15559990001", "15559990002"])
        #expect(contacts[0].variables == #"{"name":"O'Brien \"Bob\"","n":1}"#)
        #expect(contacts[1].variables == "{}")
    }

    @Test func reportsEveryBadRowWithItsIndex() {
        do {
            _ = try CampaignAPI.validateContacts(items(#"[{"phone_number":"1"},{"phone_number":"15559990002"},5,{"phone_number":"15559990003","variables":[1]},{"phone":"x"}]"#))
            Issue.record("expected 422")
        } catch {
            #expect(error.status == 422)
            #expect(error.message.hasPrefix("4 of 5 contacts are invalid"))
            let indexes = error.details?.arrayValue?.compactMap { $0["index"]?.intValue }
            #expect(indexes == [0, 2, 3, 4, 4])
        }
    }

    @Test func capsTheListOfErrors() {
        let many = "[" + Array(repeating: #"{"phone_number":"x"}"#, count: 500).joined(separator: ",") + "]"
        do {
            _ = try CampaignAPI.validateContacts(items(many))
        } catch {
            #expect(error.details?.arrayValue?.count == FieldLimits.reportedErrors)
            #expect(error.message.hasPrefix("500 of 500"))
        }
    }

    @Test func boundsVariables() {
        let big = String(repeating: "x", count: 5000)
        #expect(throws: APIError.self) { try CampaignAPI.validateContacts(items(#"[{"phone_number":"15559990001","variables":{"a":"\#(big)"}}]"#)) }
    }
}

@Suite struct RouterTests {
    let router: Router = {
        var router = Router()
        router.add("GET", "/v1/campaigns/:id", { _ in .init(status: 200) })
        router.add("PUT", "/v1/campaigns/:id", { _ in .init(status: 200) })
        router.add("GET", "/v1/dnc/:phone", { _ in .init(status: 200) })
        return router
    }()

    @Test func capturesDecodedParameters() {
        guard case .found(_, let parameters, _) = router.match(method: "GET", path: "/v1/dnc/%2B1555") else {
            Issue.record("no match")
            return
        }
        #expect(parameters == ["+1555"])
        guard case .found = router.match(method: "HEAD", path: "/v1/campaigns/x/") else {
            Issue.record("HEAD and a trailing slash should match")
            return
        }
    }

    @Test func tellsMethodNotAllowedFromNotFound() {
        guard case .methodNotAllowed(let allowed) = router.match(method: "DELETE", path: "/v1/campaigns/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["GET", "HEAD", "PUT"])
        guard case .notFound = router.match(method: "GET", path: "/v1/campaigns/x/y") else {
            Issue.record("expected 404")
            return
        }
        guard case .notFound = router.match(method: "GET", path: "/v1/dnc/%zz") else {
            Issue.record("a malformed escape is a 404")
            return
        }
    }

    @Test func parsesQueries() {
        #expect(parseQuery("limit=5&status=skipped_dnc&x=a+b%21") == ["limit": "5", "status": "skipped_dnc", "x": "a b!"])
        #expect(parseQuery("a=1&a=2") == nil)
        #expect(parseQuery(nil) == [:])
    }
}

@Suite struct CursorAndKeyTests {
    @Test func cursorsRoundTripAndRefuseForgeries() throws {
        guard case .string(let text) = Cursor.encode(kind: "ct", position: 1234) else {
            Issue.record("no cursor")
            return
        }
        #expect(try Cursor.decode(text, kind: "ct") == 1234)
        #expect(throws: APIError.self) { try Cursor.decode(text, kind: "cmp") }
        #expect(throws: APIError.self) { try Cursor.decode("!!!", kind: "ct") }
        #expect(Cursor.encode(kind: "ct", position: nil) == .null)
    }

    @Test func keysMapToAccounts() throws {
        let keys = try APIKeys(parsing: "acme:key_acme_0123456789, other:key_other_0123456789")
        #expect(keys.account(forKey: "key_acme_0123456789") == "acme")
        #expect(keys.account(forKey: "key_other_0123456789") == "other")
        #expect(keys.account(forKey: "key_acme_012345678") == nil)
        #expect(throws: (any Error).self) { try APIKeys(parsing: "acme") }
        #expect(try APIKeys(parsing: "acme:short").weakKeyAccounts == ["acme"])
        #expect(throws: (any Error).self) { try APIKeys(parsing: "acme:") }
        #expect(throws: (any Error).self) { try APIKeys(parsing: "a:key_acme_0123456789,b:key_acme_0123456789") }
    }
}
