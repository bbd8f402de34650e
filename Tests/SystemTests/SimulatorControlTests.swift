import Foundation
import JSON
import Testing

/// Issue 10: the simulator's `/sim/*` control endpoints (who was called, fault injection) were
/// open to anyone who reached its port, which in the compose demo is the whole network.
@Suite(.serialized) struct SimulatorControlTests {
    func simulator(_ environment: [String: String]) async throws -> (ServiceProcess, HTTPClient) {
        let process = try ServiceProcess("rymi-plivo-sim", environment: [
            "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
        ].merging(environment) { $1 })
        return (process, HTTPClient(port: try await process.listeningPort()))
    }

    var basic: String { "Basic " + Data("\(PlivoTestAccount.authID):\(PlivoTestAccount.authToken)".utf8).base64EncodedString() }

    @Test func beyondLoopbackWithoutATokenTheControlEndpointsDoNotExist() async throws {
        let (process, client) = try await simulator(["RYMI_SIM_ADDR": "0.0.0.0:0"])
        defer { process.stop() }
        #expect(try await client.request("GET", "/sim/calls", key: nil).status == 404)
        #expect(try await client.request("POST", "/sim/faults", key: nil, json: "http401=1", headers: [("Content-Type", "text/plain")]).status == 404)
        // Plivo's API is unaffected, and the refused fault injection changed nothing.
        #expect(try await client.request("GET", "/v1/Account/\(PlivoTestAccount.authID)/", key: nil, headers: [("Authorization", basic)]).status == 200)
        let call = #"{"from":"14155550100","to":"14155550199","answer_url":"http://127.0.0.1:1/a"}"#
        let placed = try await client.request("POST", "/v1/Account/\(PlivoTestAccount.authID)/Call/", key: nil, json: call, headers: [("Authorization", basic)])
        #expect(placed.status == 201)
        #expect(try await client.request("GET", "/healthz", key: nil).status == 200)
    }

    @Test func withATokenOnlyItsBearerControlsTheSimulator() async throws {
        let token = "sim_control_0123456789abcdef"
        let (process, client) = try await simulator(["RYMI_SIM_ADDR": "0.0.0.0:0", "RYMI_SIM_CONTROL_TOKEN": token])
        defer { process.stop() }
        #expect(try await client.request("GET", "/sim/calls", key: nil).status == 401)
        #expect(try await client.request("GET", "/sim/calls", key: "not-the-token-at-all").status == 401)
        #expect(try await client.request("POST", "/sim/faults", key: "not-the-token-at-all", json: "http401=1", headers: [("Content-Type", "text/plain")]).status == 401)
        let calls = try await client.request("GET", "/sim/calls", key: token)
        #expect(calls.status == 200)
        #expect(calls.json?["count"] == .int(0))
        #expect(try await client.request("POST", "/sim/faults", key: token, json: "http401=0", headers: [("Content-Type", "text/plain")]).status == 200)
    }

    @Test func onLoopbackTheOperatorNeedsNoToken() async throws {
        let (process, client) = try await simulator(["RYMI_SIM_ADDR": "127.0.0.1:0"])
        defer { process.stop() }
        #expect(try await client.request("GET", "/sim/calls", key: nil).status == 200)
    }

    @Test func aShortTokenIsAConfigurationError() async throws {
        let process = try ServiceProcess("rymi-plivo-sim", environment: [
            "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
            "RYMI_SIM_ADDR": "0.0.0.0:0", "RYMI_SIM_CONTROL_TOKEN": "short",
        ])
        let status = await process.waitForExit(timeout: 10)
        process.stop()
        #expect(status == 2)
        #expect(process.standardError.contains("RYMI_SIM_CONTROL_TOKEN"))
    }
}
