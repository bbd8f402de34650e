import Crypto
import Foundation
import Glibc
import JSON
import Protocol
import RPC
import Testing

/// Whatever answers at RYMI_MANAGER_ADDR must prove it holds the role's secret before a dialer
/// or a gateway does anything it says.
@Suite(.serialized) struct ManagerImpostorTests {
    /// Answers hello with a made-up proof, then offers a call, unsealed and sealed with a guess.
    static func impostor(_ fd: Int32) {
        defer { close(fd) }
        guard let hello = RawListener.readLine(fd), let parsed = try? JSONParser.parse(hello), let id = parsed["id"]?.intValue else { return }
        let nonce = Hex.encode(WireAuthentication.freshNonce())
        RawListener.write(fd, #"{"v":1,"id":\#(id),"type":"ok","body":{"protocolVersion":1,"role":"manager","nonce":"\#(nonce)","proof":"\#(String(repeating: "ab", count: 32))"}}"# + "\n")
        let offer = #"{"v":1,"id":1,"type":"dialer.place","body":{"attempt":1,"account":"acme","campaignID":"cmp_x","contactID":"ct_1","agentID":"a","from":"14155550100","to":"15552009999","leaseMilliseconds":2000}}"#
        RawListener.write(fd, offer + "\n")
        var sealer = LineSealer(key: HMACSHA256.Key(Array("guess".utf8)))
        RawListener.write(fd, String(decoding: sealer.seal(Array(offer.utf8) + [0x0A]), as: UTF8.self))
        while RawListener.readLine(fd) != nil {}
    }

    @Test func aDialerPlacesNoCallForAManagerThatCannotProveTheSecret() async throws {
        let stack = try await Stack.start(StackOptions(simulator: [:]))
        defer { stack.stop() }
        let impostor = try RawListener { Self.impostor($0) }
        defer { impostor.stop() }
        let dialer = try ServiceProcess("rymi-dialer", environment: [
            "RYMI_MANAGER_ADDR": "127.0.0.1:\(impostor.port)", "PLIVO_AUTH_ID": PlivoTestAccount.authID,
            "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken, "PLIVO_API_URL": "http://127.0.0.1:\(stack.simulatorClient!.port)",
            "RYMI_PUBLIC_URL": "http://127.0.0.1:\(stack.client.port)",
            "RYMI_STATUS_FILE": stack.dataDirectory.appendingPathComponent("impostor-dialer.status").path,
        ])
        defer { dialer.stop() }
        let refusal = try await dialer.waitForEvent("rpc_manager_unverified")
        #expect(refusal["error"]?.stringValue?.contains("not our manager") == true)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await stack.simulatorCalls().calls.isEmpty)
        #expect(!dialer.logLines.contains { $0.contains("dialer_registered") || $0.contains("call_placed") })
    }

    @Test func aGatewayForwardsNothingToAManagerThatCannotProveTheSecret() async throws {
        let impostor = try RawListener { Self.impostor($0) }
        defer { impostor.stop() }
        let gateway = try ServiceProcess("rymi-gateway", environment: [
            "RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_MANAGER_ADDR": "127.0.0.1:\(impostor.port)", "RYMI_API_KEYS": Keys.all,
        ])
        defer { gateway.stop() }
        let client = HTTPClient(port: try await gateway.listeningPort())
        _ = try await gateway.waitForEvent("rpc_manager_unverified")
        let response = try await client.request("GET", "/v1/campaigns")
        #expect(response.status == 503)
    }

    @Test func everyProcessRefusesToStartWithoutItsSecretAndWarnsOfWeakOnes() async throws {
        for (name, variable) in [("rymi-manager", "RYMI_GATEWAY_SECRET"), ("rymi-manager", "RYMI_DIALER_SECRET"), ("rymi-gateway", "RYMI_GATEWAY_SECRET"),
                                 ("rymi-dialer", "RYMI_DIALER_SECRET")] {
            let process = try ServiceProcess(name, environment: [
                variable: "", "RYMI_DATA_DIR": temporaryDirectory("nosecret").path, "RYMI_API_KEYS": Keys.all,
                "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
                "RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_HTTP_ADDR": "127.0.0.1:0",
            ])
            #expect(await process.waitForExit() == 2, "\(name) without \(variable)")
            #expect(process.standardError.contains(variable))
        }
        // One secret for both roles, and a short one, start with a warning (as weak API keys do).
        let same = try ServiceProcess("rymi-manager", environment: [
            "RYMI_DIALER_SECRET": Secrets.gateway, "RYMI_GATEWAY_SECRET": Secrets.gateway,
            "RYMI_DATA_DIR": temporaryDirectory("samesecret").path, "RYMI_MANAGER_LISTEN": "127.0.0.1:0",
        ])
        defer { same.stop() }
        let warning = try await same.waitForEvent("weak_secret")
        #expect(warning["problem"]?.stringValue?.contains("are the same") == true)
        let short = try ServiceProcess("rymi-gateway", environment: [
            "RYMI_GATEWAY_SECRET": "gw", "RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_API_KEYS": Keys.all, "RYMI_ADMIN_ADDR": "127.0.0.1:0",
        ])
        defer { short.stop() }
        #expect(try await short.waitForEvent("weak_secret")["problem"]?.stringValue?.contains("shorter than 16") == true)
    }
}
