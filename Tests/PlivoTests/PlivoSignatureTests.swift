import Foundation
import JSON
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
