import Crypto
import HTTP1

/// Plivo's callback signatures: V3 is what proves a callback came from Plivo.
///
/// The same code signs (in the simulator) and verifies (in the gateway), so the two cannot drift;
/// both are tested against Plivo's published vectors. Legacy V2 is only computed (for its test
/// vectors and for tests proving the gateway refuses it), never verified: it signs the URL
/// without its query, and the nonce, not the parameters, so it proves nothing about the call.
public enum PlivoSignature {
    /// `X-Plivo-Signature-V3` for a callback to `url` with `parameters` (form fields for POST, extra
    /// query fields for GET).
    public static func v3(url: String, method: String, parameters: [(String, String)], nonce: String, authToken: String) -> String {
        let message = v3Message(url: url, method: method, parameters: parameters) + "." + nonce
        return Base64.encode(HMACSHA256.authenticate(Array(message.utf8), key: Array(authToken.utf8)))
    }

    /// `X-Plivo-Signature-V2`: over the URL without its query, then the nonce. Not accepted by the
    /// gateway (see the type's comment).
    public static func v2(url: String, nonce: String, authToken: String) -> String {
        let (base, _) = split(url)
        return Base64.encode(HMACSHA256.authenticate(Array((base + nonce).utf8), key: Array(authToken.utf8)))
    }

    /// True if any of the comma-separated signatures in `header` matches. Compared in constant time.
    public static func verifyV3(header: String, url: String, method: String, parameters: [(String, String)], nonce: String, authToken: String) -> Bool {
        let expected = Array(v3(url: url, method: method, parameters: parameters, nonce: nonce, authToken: authToken).utf8)
        return anyMatches(header, expected)
    }

    private static func anyMatches(_ header: String, _ expected: [UInt8]) -> Bool {
        var matched = false
        for candidate in header.split(separator: ",") {
            let trimmed = candidate.drop(while: { $0 == " " })
            if constantTimeEquals(Array(trimmed.utf8), expected) { matched = true }
        }
        return matched
    }

    /// The string V3 signs, before the nonce.
    static func v3Message(url: String, method: String, parameters: [(String, String)]) -> String {
        let (base, query) = split(url)
        let queryPairs = query.flatMap { FormEncoding.decodePairs($0) }.map { $0.map { ($0.key, $0.value) } } ?? []
        if method.uppercased() == "GET" {
            let all = sortedPairs(queryPairs + parameters)
            return all.isEmpty ? base : base + "?" + all.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        let body = sortedPairs(parameters).map { $0.0 + $0.1 }.joined()
        if !queryPairs.isEmpty {
            let signedQuery = base + "?" + sortedPairs(queryPairs).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            return body.isEmpty ? signedQuery : signedQuery + "." + body
        }
        return body.isEmpty ? base : base + "?" + body
    }

    /// Sorted by key, and by value among repeated keys.
    private static func sortedPairs(_ pairs: [(String, String)]) -> [(String, String)] {
        pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
    }

    /// `scheme://host[:port]/path` and the raw query, with any fragment dropped.
    static func split(_ url: String) -> (base: String, query: Substring?) {
        let withoutFragment = url[..<(url.utf8.firstIndex(of: UInt8(ascii: "#")) ?? url.endIndex)]
        guard let mark = withoutFragment.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (String(withoutFragment), nil) }
        return (String(withoutFragment[..<mark]), withoutFragment[withoutFragment.utf8.index(after: mark)...])
    }
}
