import JSON
import Protocol

/// What a handler knows about the request it serves.
public struct RPCContext: Sendable {
    public let peer: RPCPeer
    public let requestID: String?
}

/// Maps message types to handlers; the one table of what a process answers.
public struct RPCRouter: Sendable {
    struct Route: Sendable {
        let senders: Set<PeerRole>
        let decode: BodyDecoder
        let handle: @Sendable (any Sendable, RPCContext) async throws -> any Encodable & Sendable
        /// Tried on the connection's loop, without a task; nil hands the request to `handle`.
        let immediate: (@Sendable (any Sendable, RPCContext) throws -> (any Encodable & Sendable)?)?
    }

    var routes: [String: Route] = [:]

    public init() {}

    public mutating func on<Message: RPCMessage>(
        _ message: Message.Type,
        _ handler: @escaping @Sendable (Message, RPCContext) async throws -> Message.Reply
    ) {
        routes[Message.type] = Route(
            senders: Message.senders,
            decode: Message.bodyDecoder,
            handle: { body, context in try await handler(body as! Message, context) },
            immediate: nil
        )
    }

    /// `now` runs on the connection's event loop as soon as the request is read: only for work
    /// of microseconds that never waits (a single-row read), since the loop serves others. When
    /// it cannot answer without waiting it returns nil, and `otherwise` answers in a task.
    /// Serves a message carried inside another (an `IdempotentCall`'s effect) as if it had come
    /// alone: its sender's role must be one its type allows, and `body` must decode as it.
    public func handle(type: String, body: JSONValue, context: RPCContext) async throws -> any Encodable & Sendable {
        guard let route = routes[type] else { throw RemoteError(.unknownType, "unknown message type \(type)") }
        guard let role = context.peer.remoteRole, route.senders.contains(role) else {
            throw RemoteError(.forbidden, "\(type) may not be sent by this peer")
        }
        let message: any Sendable
        do {
            message = try route.decode(body)
        } catch {
            throw RemoteError(.malformed, "\(type): \(error)")
        }
        return try await route.handle(message, context)
    }

    public mutating func onImmediately<Message: RPCMessage>(
        _ message: Message.Type,
        _ now: @escaping @Sendable (Message, RPCContext) throws -> Message.Reply?,
        otherwise: @escaping @Sendable (Message, RPCContext) async throws -> Message.Reply
    ) {
        routes[Message.type] = Route(
            senders: Message.senders,
            decode: Message.bodyDecoder,
            handle: { body, context in try await otherwise(body as! Message, context) },
            immediate: { body, context in try now(body as! Message, context) }
        )
    }
}
