import Foundation

/// The line protocol between Rymi processes: one JSON envelope per line over TCP.
///
/// `{"v":1,"id":7,"type":"campaign.get","rid":"…","body":{…}}`. A request carries its message
/// type; its answer carries the same `id` and type `ok` (body: the reply) or `error` (body: a
/// `RemoteError`). Either side may send requests: ids are per sender.
public enum WireProtocol {
    public static let version = 1
    /// Bounds one line; an upload of 100,000 contacts with variables fits with room to spare.
    public static let maxLineBytes = 192 * 1024 * 1024
    public static let okType = "ok"
    public static let errorType = "error"
}

/// A request message with the reply it expects.
public protocol RPCMessage: Codable, Sendable {
    static var type: String { get }
    associatedtype Reply: Codable, Sendable
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
        case unavailable
        case storageFull = "storage_full"
        case timedOut = "timed_out"
        case malformed
        case unknownType = "unknown_type"
        case versionMismatch = "version_mismatch"
        case handshakeRequired = "handshake_required"
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
public struct OutgoingEnvelope<Body: Encodable>: Encodable {
    public let v: Int
    public let id: UInt64
    public let type: String
    public let rid: String?
    public let body: Body

    public init(id: UInt64, type: String, requestID: String?, body: Body) {
        self.v = WireProtocol.version
        self.id = id
        self.type = type
        self.rid = requestID
        self.body = body
    }

    /// The envelope as one line, newline included.
    public func encodedLine() throws -> [UInt8] {
        var bytes = [UInt8](try JSONEncoder().encode(self))
        bytes.append(0x0A)
        return bytes
    }
}

/// Knows, while a line is being decoded, which type its body has: a request's by its message
/// type, a reply's by the call waiting for it. Decoding the body in the same pass as the
/// envelope matters for lines that carry 100,000 contacts.
public protocol EnvelopeBodyResolver: Sendable {
    func bodyDecoder(type: String, id: UInt64) -> (@Sendable (any Decoder) throws -> any Sendable)?
}

extension CodingUserInfoKey {
    public static let envelopeBodyResolver = CodingUserInfoKey(rawValue: "rymi.envelopeBodyResolver")!
}

/// An incoming line: envelope fields plus the body decoded as its resolver said.
public struct IncomingEnvelope: Decodable, Sendable {
    public let version: Int
    public let id: UInt64
    public let type: String
    public let requestID: String?
    /// nil when nobody claimed the body's type (an unknown type, or a reply nobody awaits).
    public let body: Result<any Sendable, any Error>?

    enum Keys: String, CodingKey { case v, id, type, rid, body }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        version = try container.decode(Int.self, forKey: .v)
        id = try container.decode(UInt64.self, forKey: .id)
        type = try container.decode(String.self, forKey: .type)
        requestID = try container.decodeIfPresent(String.self, forKey: .rid)
        guard let resolver = decoder.userInfo[.envelopeBodyResolver] as? any EnvelopeBodyResolver,
              let decode = resolver.bodyDecoder(type: type, id: id)
        else {
            body = nil
            return
        }
        do {
            body = .success(try decode(try container.superDecoder(forKey: .body)))
        } catch {
            body = .failure(error)
        }
    }

    /// Reads the id of a line that failed to decode, so the error reply can still name it.
    public static func salvageID(from line: [UInt8]) -> UInt64 {
        struct IDOnly: Decodable { let id: UInt64 }
        return (try? JSONDecoder().decode(IDOnly.self, from: Data(line)))?.id ?? 0
    }
}
