@testable import Gateway
import Runtime
import Testing

/// The gateway verifies callback signatures over RYMI_PUBLIC_URL; unset, it must be the value the
/// dialers put in their call requests (issue 10: it was the bound address, e.g. http://0.0.0.0:8080).
@Suite struct GatewayConfigurationTests {
    func configuration(_ values: [String: String]) throws -> GatewayConfiguration {
        try GatewayConfiguration(environment: Environment([
            "RYMI_API_KEYS": "acme:key_acme_0123456789abcdef", "RYMI_GATEWAY_SECRET": "gateway-secret-0123456789abcdef",
        ].merging(values) { $1 }))
    }

    @Test func publicURLDefaultsLikeTheDialers() throws {
        #expect(try configuration([:]).publicURL == "http://127.0.0.1:8080")
        #expect(try configuration(["RYMI_HTTP_ADDR": "0.0.0.0:8080"]).publicURL == "http://127.0.0.1:8080")
        #expect(try configuration(["RYMI_HTTP_ADDR": "0.0.0.0:8080", "RYMI_PUBLIC_URL": "https://rymi.example.com/"]).publicURL == "https://rymi.example.com")
        // Port 0 (tests): only the gateway knows the port it gets; it uses its bound address.
        #expect(try configuration(["RYMI_HTTP_ADDR": "127.0.0.1:0"]).publicURL == nil)
    }
}
