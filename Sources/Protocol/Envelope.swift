import JSON

/// The line protocol between Rymi processes: one JSON envelope per line over TCP.
///
/// `{"v":1,"id":7,"type":"campaign.get","rid":"…","body":{…}}`. A request carries its message
/// type; its answer carries the same `id` and type `ok` (body: the reply) or `error` (body: a
/// `RemoteError`). Either side may send requests: ids are per sender.
public enum WireProtocol {
    public static let version = 1
    /// Bounds one line from an authenticated gateway or manager; an upload of 100,000 contacts
    /// with variables fits with room to spare.
    public static let maxLineBytes = 192 * 1024 * 1024
    /// Bounds one line before the peer has proved who it is: the handshake's messages are tiny,
    /// so a stranger can never make a process buffer or parse more than this.
    public static let maxHandshakeLineBytes = 4 * 1024
    /// Bounds one line from an authenticated dialer: begins, reports and lookups are small.
    public static let maxDialerLineBytes = 256 * 1024
    public static let okType = "ok"
    public static let errorType = "error"
}

/// A request message with the reply it expects.
public protocol RPCMessage: Codable, Sendable {
    static var type: String { get }
    associatedtype Reply: Codable, Sendable
    /// The roles allowed to send this message; a receiver refuses it from any other.
    static var senders: Set<PeerRole> { get }
}

/// The reply of messages whose answer is only "done".
public struct Empty: Codable, Sendable, Equatable {
    public init() {}
}

/// Every error one process reports to another; the gateway maps codes to HTTP statuses.
public struct RemoteError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Codable, Sendable {
        case invalid
        case notFound = "not_found"
        case conflict
        /// A campaign's caller ID is not one of its account's numbers.
        case numberNotOwned = "number_not_owned"
        case unavailable
        case storageFull = "storage_full"
        case timedOut = "timed_out"
        case malformed
        case unknownType = "unknown_type"
        case versionMismatch = "version_mismatch"
        case handshakeRequired = "handshake_required"
        case unauthenticated
        case forbidden
        /// An Idempotency-Key sent again with a different request.
        case idempotencyKeyReused = "idempotency_key_reused"
        /// An Idempotency-Key whose first request is still being served.
        case idempotencyKeyInUse = "idempotency_key_in_use"
        case `internal`
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// What an outgoing line looks like; `Body` is the message or the reply.
public struct OutgoingEnvelope<Body: Encodable> {
    public let id: UInt64
    public let type: String
    public let requestID: String?
    public let body: Body

    public init(id: UInt64, type: String, requestID: String?, body: Body) {
        self.id = id
        self.type = type
        self.requestID = requestID
        self.body = body
    }

    /// The envelope as one line, newline included.
    public func encodedLine() throws -> [UInt8] {
        var line = JSONValue.object([
            "v": .int(WireProtocol.version), "id": .number(String(id)), "type": .string(type),
            "rid": requestID.map(JSONValue.string), "body": try JSONValueEncoder.encode(body),
        ]).serialized()
        line.append(0x0A)
        return line
    }
}

/// Knows, while a line is being decoded, which type its body has: a request's by its message
/// type, a reply's by the call waiting for it.
public protocol EnvelopeBodyResolver: Sendable {
    func bodyDecoder(type: String, id: UInt64) -> BodyDecoder?
}

/// Turns a parsed body into the message or reply it carries.
public typealias BodyDecoder = @Sendable (JSONValue) throws -> any Sendable

extension RPCMessage {
    public static var bodyDecoder: BodyDecoder { { try JSONValueDecoder.decode(Self.self, from: $0) } }
    public static var replyDecoder: BodyDecoder { { try JSONValueDecoder.decode(Reply.self, from: $0) } }
}

/// An incoming line: envelope fields plus the body decoded as its resolver said.
public struct IncomingEnvelope: Sendable {
    public let version: Int
    public let id: UInt64
    public let type: String
    public let requestID: String?
    /// nil when nobody claimed the body's type (an unknown type, or a reply nobody awaits).
    public let body: Result<any Sendable, any Error>?

    public struct Malformed: Error, CustomStringConvertible {
        /// The id, when the line got far enough to name one, so the error reply can still name it.
        public let id: UInt64
        public let description: String
    }

    /// Below the envelope, the body and a list in it (a contact's variables), values are kept
    /// as text: they are passed on, not read.
    public static let verbatimDepth = 4

    public init(line: [UInt8], resolver: any EnvelopeBodyResolver) throws(Malformed) {
        try self.init(line: line[...], resolver: resolver)
    }

    /// A line still inside the buffer it arrived in (a sealed line, past its seal).
    public init(line: ArraySlice<UInt8>, resolver: any EnvelopeBodyResolver) throws(Malformed) {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(line, verbatimBelow: Self.verbatimDepth)
        } catch {
            throw Malformed(id: 0, description: "\(error)")
        }
        let salvagedID = parsed["id"].flatMap { if case .number(let lexeme) = $0 { UInt64(lexeme) } else { nil } }
        func field<T>(_ name: String, _ read: (JSONValue) -> T?) throws(Malformed) -> T {
            guard let value = parsed[name].flatMap(read) else { throw Malformed(id: salvagedID ?? 0, description: "missing or invalid \"\(name)\"") }
            return value
        }
        version = try field("v") { $0.intValue }
        id = try field("id") { _ in salvagedID }
        type = try field("type") { $0.stringValue }
        switch parsed["rid"] {
        case nil, .null?: requestID = nil
        case .string(let text)?: requestID = text
        default: throw Malformed(id: id, description: "invalid \"rid\"")
        }
        guard let decode = resolver.bodyDecoder(type: type, id: id) else {
            body = nil
            return
        }
        do {
            body = .success(try decode(parsed["body"] ?? .null))
        } catch {
            body = .failure(error)
        }
    }
}
