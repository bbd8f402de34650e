@testable import Gateway
import JSON
import Testing

/// Metric labels come from closed sets; agent ids from a closed alphabet.
@Suite struct MetricLabelTests {
    @Test func methodsOutsideHTTPsOwnBecomeOther() {
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"] {
            #expect(GatewayMetrics.methodLabel(method) == method)
        }
        for method in ["get", "PROPFIND", "BREW", String(repeating: "X", count: 4096), "GET2", ""] {
            #expect(GatewayMetrics.methodLabel(method) == "other", "\(method.prefix(20))")
        }
    }

    @Test func statusesAreNumbersInRange() {
        #expect(GatewayMetrics.statusLabel(200) == "200")
        #expect(GatewayMetrics.statusLabel(503) == "503")
        #expect(GatewayMetrics.statusLabel(7) == "other")
        #expect(GatewayMetrics.statusLabel(1000) == "other")
    }
}

@Suite struct AgentIDTests {
    func check(_ value: JSONValue) -> (String?, [String]) {
        var reader = ObjectReader([("agent_id", value)])
        let result = reader.agentID("agent_id", required: true)
        return (result, reader.errors.map(\.field))
    }

    @Test(arguments: ["a", "agent_42", "team.eu:agent-7_b@v2", String(repeating: "z", count: 128)])
    func accepts(id: String) {
        let (result, errors) = check(.string(id))
        #expect(result == id)
        #expect(errors.isEmpty)
    }

    @Test(arguments: ["", " ", "a,b", "a=b", "agent_1,campaign_id=cmp_x", "a b", "a\"b", "a<b", "a&b", "a/b", "agént", "a\u{0}",
                      "a\nb", String(repeating: "z", count: 129)])
    func refuses(id: String) {
        let (result, errors) = check(.string(id))
        #expect(result == nil, "\(id)")
        #expect(errors == ["agent_id"], "\(id)")
    }

    @Test func refusesOtherTypes() {
        #expect(check(.int(5)).1 == ["agent_id"])
        #expect(check(.null).1 == ["agent_id"])
    }
}
