import Crypto
import JSON

/// Opaque page cursors: a kind and a position, base64url-encoded. Clients must not build them.
enum Cursor {
    static func encode(kind: String, position: Int64?) -> JSONValue {
        guard let position else { return .null }
        return .string(Base64.encode(Array("\(kind):\(position)".utf8), urlSafe: true))
    }

    static func decode(_ text: String?, kind: String) throws(APIError) -> Int64? {
        guard let text else { return nil }
        guard let bytes = Base64.decode(text), let plain = String(validating: bytes, as: UTF8.self),
              plain.hasPrefix(kind + ":"), let position = Int64(plain.dropFirst(kind.count + 1)), position >= 0
        else {
            throw APIError.invalid([FieldError("cursor", "is not a cursor this list returned")])
        }
        return position
    }
}
