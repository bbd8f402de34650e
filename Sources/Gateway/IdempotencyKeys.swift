import Crypto
import Foundation
import HTTP1
import Protocol

/// A `POST` sent with `Idempotency-Key`: its key, the fingerprint of what was sent with it, and
/// whether the answer is the record of an earlier request's. The manager does the rest: see
/// `IdempotentCall`.
final class IdempotencyRequest: @unchecked Sendable {
    let key: String
    /// Set from the whole request before the handler runs, or, for a streamed body, by the handler
    /// once the body has all gone by (before it sends the effect).
    var fingerprint: String?
    /// Set when the manager answered from its record.
    var replayed = false

    private init(key: String) {
        self.key = key
    }

    /// The request's key, checked: nil when it has none (or is not a `POST`, whose retry is
    /// harmless as it is).
    static func from(_ request: HTTPRequest) throws(APIError) -> IdempotencyRequest? {
        guard request.method == "POST", let key = request.header("Idempotency-Key") else { return nil }
        guard (1...IdempotentCall.maxKeyBytes).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(400, "invalid_idempotency_key",
                           "Idempotency-Key must be 1 to \(IdempotentCall.maxKeyBytes) printable ASCII characters without spaces (a UUID is a good one)")
        }
        let idempotency = IdempotencyRequest(key: key)
        if request.bodyStream == nil {
            var digest = Self.digest(of: request)
            digest.update(request.body)
            idempotency.fingerprint = Hex.encode(digest.finalize())
        }
        return idempotency
    }

    /// What makes two requests the same one: method, path, query, content type and then the body.
    static func digest(of request: HTTPRequest) -> SHA256 {
        var digest = SHA256()
        let contentType = request.header("Content-Type") ?? ""
        for part in [request.method, String(request.path), String(request.query ?? ""), contentType] {
            digest.update(Array(part.utf8))
            digest.update([0])
        }
        return digest
    }
}
