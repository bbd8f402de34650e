import HTTP1
import JSON
import Protocol

/// An error that knows its HTTP response; every handler failure ends as one of these.
public struct APIError: Error, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public var details: JSONValue?
    public var headers: [(name: String, value: String)] = []

    public init(_ status: Int, _ code: String, _ message: String, details: JSONValue? = nil, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var response: HTTPResponse {
        HTTPResponse.error(status, code: code, message: message, details: details, headers: headers)
    }

    static func notFound(_ message: String = "no such resource") -> APIError { APIError(404, "not_found", message) }

    static func invalid(_ errors: [FieldError]) -> APIError {
        let message = errors.count == 1 ? "\(errors[0].field): \(errors[0].reason)" : "\(errors.count) fields are invalid"
        return APIError(422, "validation_failed", message, details: .array(errors.map(\.json)))
    }

    /// The HTTP face of an error reported by the manager.
    init(remote error: RemoteError) {
        switch error.code {
        case .notFound: self.init(404, "not_found", error.message)
        case .conflict: self.init(409, "conflict", error.message)
        case .invalid: self.init(422, "validation_failed", error.message)
        case .numberNotOwned: self.init(422, "number_not_owned", error.message)
        case .idempotencyKeyReused: self.init(422, "idempotency_key_reused", error.message)
        case .idempotencyKeyInUse: self.init(409, "idempotency_key_in_use", error.message, headers: [("Retry-After", "1")])
        case .storageFull: self.init(507, "insufficient_storage", error.message)
        case .unavailable, .timedOut:
            self.init(503, "service_unavailable", "the campaign store is unavailable; retry shortly", headers: [("Retry-After", "1")])
        default: self.init(500, "internal_error", "internal error")
        }
    }
}

/// One invalid field: where, and why.
public struct FieldError: Sendable, Equatable {
    public var field: String
    public var reason: String
    public var index: Int?
    /// A CSV upload's row, 1-based, the header not counted (`index` is then `row - 1`).
    public var row: Int?

    public init(_ field: String, _ reason: String, index: Int? = nil, row: Int? = nil) {
        self.field = field
        self.reason = reason
        self.index = index
        self.row = row
    }

    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let row { members.append(("row", .int(row))) }
        members += [("index", index.map(JSONValue.int) ?? .null), ("field", .string(field)), ("reason", .string(reason))]
        return .object(members)
    }
}
