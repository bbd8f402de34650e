import Foundation
import JSON
import Runtime
@testable import Plivo
import Testing

/// Plivo's published vectors, from shared/spec (read-only beside the project).
struct SignatureVector: Sendable, CustomStringConvertible {
    let version: String
    let method: String
    let url: String
    let nonce: String
    let authToken: String
    let parameters: [(String, String)]
    let signature: String

    var description: String { "\(version) \(method) \(url)" }

    /// The project's shared spec when it sits beside the checkout, else the copy kept with the tests.
    static func load() throws -> [SignatureVector] {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let shared = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/spec/plivo-signature-vectors.json")
        let file = FileManager.default.fileExists(atPath: shared.path) ? shared : here.appendingPathComponent("Fixtures/plivo-signature-vectors.json")
        let document = try JSONParser.parse(Array(try Data(contentsOf: file)))
        return (document["vectors"]?.arrayValue ?? []).map { vector in
            SignatureVector(
                version: vector["version"]?.stringValue ?? "", method: vector["method"]?.stringValue ?? "",
                url: vector["url"]?.stringValue ?? "", nonce: vector["nonce"]?.stringValue ?? "",
                authToken: vector["auth_token"]?.stringValue ?? "",
                parameters: (vector["params"]?.objectMembers ?? []).map { ($0.key, $0.value.stringValue ?? "") },
                signature: vector["signature"]?.stringValue ?? ""
            )
        }
    }
}

@Suite struct PlivoSignatureTests {
    @Test func matchesEveryPublishedVector() throws {
        let vectors = try SignatureVector.load()
        #expect(vectors.count == 5)
        for vector in vectors {
            let computed = vector.version == "v3"
                ? PlivoSignature.v3(url: vector.url, method: vector.method, parameters: vector.parameters, nonce: vector.nonce, authToken: vector.authToken)
                : PlivoSignature.v2(url: vector.url, nonce: vector.nonce, authToken: vector.authToken)
            #expect(computed == vector.signature, "\(vector)")
        }
    }

    @Test func verifiesAnyOfSeveralSignaturesAndRejectsTampering() throws {
        let url = "https://rymi.example/callbacks/plivo/hangup?contact=ct_1&attempt=7"
        let parameters = [("CallUUID", "abc"), ("CallStatus", "completed")]
        let good = PlivoSignature.v3(url: url, method: "POST", parameters: parameters, nonce: "n1", authToken: "token")
        #expect(PlivoSignature.verifyV3(header: "bogus, \(good)", url: url, method: "POST", parameters: parameters, nonce: "n1", authToken: "token"))
        #expect(!PlivoSignature.verifyV3(header: good, url: url, method: "POST", parameters: parameters, nonce: "n2", authToken: "token"))
        #expect(!PlivoSignature.verifyV3(header: good, url: url.replacingOccurrences(of: "ct_1", with: "ct_2"), method: "POST", parameters: parameters, nonce: "n1", authToken: "token"))
        #expect(!PlivoSignature.verifyV3(header: good, url: url, method: "POST", parameters: [("CallUUID", "abc"), ("CallStatus", "busy")], nonce: "n1", authToken: "token"))
        #expect(!PlivoSignature.verifyV3(header: good, url: url, method: "POST", parameters: parameters, nonce: "n1", authToken: "other"))
        #expect(!PlivoSignature.verifyV3(header: "", url: url, method: "POST", parameters: parameters, nonce: "n1", authToken: "token"))
        // The genuine signature followed by 256 NULs (a length difference that fits no byte).
        let padded = good + String(repeating: "\u{0}", count: 256)
        #expect(!PlivoSignature.verifyV3(header: padded, url: url, method: "POST", parameters: parameters, nonce: "n1", authToken: "token"))
    }
}

/// Issue 10: `PLIVO_API_URL` over plain HTTP sends the Basic credentials in the clear.
@Suite struct PlivoAPIURLTests {
    @Test(arguments: [
        "https://api.plivo.com", "https://api.plivo.com/", "http://127.0.0.1:9090", "http://127.9.8.7", "http://localhost:9090",
        "http://LOCALHOST", "http://[::1]:9090", "HTTP://127.0.0.1:1",
    ])
    func allowed(url: String) {
        #expect(PlivoAccount.apiURLProblem(url, allowInsecureHTTP: false) == nil)
    }

    @Test(arguments: [
        "http://api.plivo.com", "http://10.0.0.5:9090", "http://128.0.0.1", "http://127.0.0.1.evil.example", "http://localhost.evil.example",
        "http://[::2]", "http://0x7f.0.0.1", "http://plivo-sim:9090",
    ])
    func plainHTTPBeyondLoopbackIsRefused(url: String) {
        #expect(PlivoAccount.apiURLProblem(url, allowInsecureHTTP: false)?.contains("PLIVO_ALLOW_INSECURE_HTTP") == true)
        // Explicitly allowed, for a private network such as the compose demo.
        #expect(PlivoAccount.apiURLProblem(url, allowInsecureHTTP: true) == nil)
    }

    @Test(arguments: ["ftp://127.0.0.1", "127.0.0.1:9090", "https://", "https://api.plivo.com/?x=1", "https://user:pw@api.plivo.com"])
    func notABaseURL(url: String) {
        #expect(PlivoAccount.apiURLProblem(url, allowInsecureHTTP: true) != nil)
    }
}

/// Issue 10: the gateway (bound address) and the dialer (`http://127.0.0.1:8080`) defaulted
/// RYMI_PUBLIC_URL differently; callbacks are verified over it, so they must agree.
@Suite struct PublicURLTests {
    @Test func unsetItFollowsTheGatewaysListeningAddress() throws {
        #expect(try PublicURL.resolve(Environment([:])) == "http://127.0.0.1:8080")
        #expect(try PublicURL.resolve(Environment(["RYMI_HTTP_ADDR": "127.0.0.1:9000"])) == "http://127.0.0.1:9000")
        // Plivo cannot call a wildcard address: it is read as loopback.
        #expect(try PublicURL.resolve(Environment(["RYMI_HTTP_ADDR": "0.0.0.0:8080"])) == "http://127.0.0.1:8080")
        #expect(try PublicURL.resolve(Environment(["RYMI_HTTP_ADDR": "[::]:8080"])) == "http://[::1]:8080")
        #expect(try PublicURL.resolve(Environment(["RYMI_HTTP_ADDR": "10.0.0.3:8080"])) == "http://10.0.0.3:8080")
        #expect(try PublicURL.resolve(Environment(["RYMI_HTTP_ADDR": "127.0.0.1:0"])) == nil)
    }

    @Test func setItIsValidatedAndWinsEverywhere() throws {
        let environment = Environment(["RYMI_PUBLIC_URL": "https://rymi.example.com/", "RYMI_HTTP_ADDR": "0.0.0.0:8080"])
        #expect(try PublicURL.resolve(environment) == "https://rymi.example.com")
        #expect(throws: ConfigurationError.self) { try PublicURL.resolve(Environment(["RYMI_PUBLIC_URL": "rymi.example.com"])) }
        #expect(throws: ConfigurationError.self) { try PublicURL.resolve(Environment(["RYMI_PUBLIC_URL": "https://rymi.example.com/?a=1"])) }
    }
}
