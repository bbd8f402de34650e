import Dispatch
import Foundation
import JSON
import Protocol
import Runtime
import Transport

/// One end of a line-protocol connection: sends requests and awaits their replies (matched by
/// id, many in flight), and answers the peer's requests through a router.
public final class RPCPeer: @unchecked Sendable, EnvelopeBodyResolver {
    struct Pending {
        let decode: BodyDecoder
        let continuation: CheckedContinuation<any Sendable, any Error>
        let deadline: DispatchTime
    }

    public let stream: StreamConnection
    private let router: RPCRouter
    private let requiresHello: Bool
    private let localRole: String
    private let logger: Logger
    private let lock = NSLock()
    private var pending: [UInt64: Pending] = [:]
    private var nextID: UInt64 = 1
    private var closed = false
    private var greeted = false
    private var closeHandlers: [@Sendable () -> Void] = []
    // Confined to the stream's queue.
    private var splitter = LineSplitter(maxLineBytes: WireProtocol.maxLineBytes)
    private var sweeper: EventLoop.Timer?
    private var lastReceived = DispatchTime.now()
    /// Closes the connection when the peer sends nothing for this long (clients ping every second).
    private let idleTimeout: Double?
    /// Set by the side that accepted the connection, from the peer's hello.
    public private(set) var remoteRole: String?
    public private(set) var remoteName: String?

    /// - Parameter requiresHello: refuse every request until the peer has sent `hello`.
    public init(stream: StreamConnection, router: RPCRouter, localRole: String, requiresHello: Bool, idleTimeout: Double? = nil, logger: Logger) {
        self.idleTimeout = idleTimeout
        self.stream = stream
        self.router = router
        self.localRole = localRole
        self.requiresHello = requiresHello
        self.logger = logger
    }

    public var isClosed: Bool { lock.withLock { closed } }

    /// Runs `handler` once when the connection closes (at once if it already has).
    public func onClose(_ handler: @escaping @Sendable () -> Void) {
        let runNow = lock.withLock { () -> Bool in
            if closed { return true }
            closeHandlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    public func start() {
        stream.start(StreamConnection.Handlers(
            onRead: { [self] bytes in received(bytes) },
            onClose: { [self] _ in connectionClosed() }
        ))
        stream.loop.execute { [self] in sweepEverySecond() }
    }

    public func close() {
        stream.loop.execute { [self] in stream.close() }
    }

    /// Sends `message` and waits for its reply, or throws the peer's `RemoteError`.
    public func call<Message: RPCMessage>(_ message: Message, requestID: String? = nil, timeout: Double = 30) async throws -> Message.Reply {
        let line: [UInt8]
        let id = lock.withLock { () -> UInt64 in
            defer { nextID += 1 }
            return nextID
        }
        do {
            line = try OutgoingEnvelope(id: id, type: Message.type, requestID: requestID, body: message).encodedLine()
        } catch {
            throw RemoteError(.internal, "cannot encode \(Message.type): \(error)")
        }
        let reply = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let accepted = lock.withLock { () -> Bool in
                guard !closed else { return false }
                pending[id] = Pending(
                    decode: Message.replyDecoder,
                    continuation: continuation,
                    deadline: .now() + timeout
                )
                return true
            }
            guard accepted else {
                continuation.resume(throwing: RemoteError(.unavailable, "connection closed"))
                return
            }
            stream.send(line)
        }
        return reply as! Message.Reply
    }

    // MARK: EnvelopeBodyResolver

    public func bodyDecoder(type: String, id: UInt64) -> BodyDecoder? {
        switch type {
        case WireProtocol.okType: return lock.withLock { pending[id]?.decode }
        case WireProtocol.errorType: return { try JSONValueDecoder.decode(RemoteError.self, from: $0) }
        case Hello.type: return Hello.bodyDecoder
        default: return router.routes[type]?.decode
        }
    }

    // MARK: Incoming

    private func sweepEverySecond() {
        guard !stream.isClosed else { return }
        sweeper = stream.loop.schedule(after: 1) { [weak self] in
            guard let self else { return }
            expireOverdueCalls()
            closeIfIdle()
            sweepEverySecond()
        }
    }

    private func closeIfIdle() {
        guard let idleTimeout, DispatchTime.now().uptimeNanoseconds - lastReceived.uptimeNanoseconds > UInt64(idleTimeout * 1e9) else { return }
        logger.warning("rpc_peer_idle", ["peer": remoteName ?? "unknown", "seconds": "\(idleTimeout)"])
        stream.close(reason: .timedOut)
    }

    private func received(_ bytes: [UInt8]) {
        lastReceived = DispatchTime.now()
        splitter.append(bytes)
        while let item = splitter.next() {
            switch item {
            case .oversized:
                reply(id: 0, error: RemoteError(.malformed, "line longer than \(WireProtocol.maxLineBytes) bytes"))
            case .line(let line):
                handleLine(line)
            }
        }
    }

    private func handleLine(_ line: [UInt8]) {
        let envelope: IncomingEnvelope
        do {
            envelope = try IncomingEnvelope(line: line, resolver: self)
        } catch {
            reply(id: error.id, error: RemoteError(.malformed, "not a protocol envelope: \(error)"))
            return
        }
        guard envelope.version == WireProtocol.version else {
            reply(id: envelope.id, error: RemoteError(.versionMismatch, "protocol version \(envelope.version) is not \(WireProtocol.version)"))
            return
        }
        switch envelope.type {
        case WireProtocol.okType, WireProtocol.errorType:
            resolve(envelope)
        default:
            serve(envelope)
        }
    }

    private func resolve(_ envelope: IncomingEnvelope) {
        guard let waiting = lock.withLock({ pending.removeValue(forKey: envelope.id) }) else { return }
        switch envelope.body {
        case .success(let body) where envelope.type == WireProtocol.okType:
            waiting.continuation.resume(returning: body)
        case .success(let body):
            waiting.continuation.resume(throwing: body as? RemoteError ?? RemoteError(.internal, "unreadable error"))
        case .failure(let error):
            waiting.continuation.resume(throwing: RemoteError(.malformed, "unreadable reply: \(error)"))
        case nil:
            waiting.continuation.resume(throwing: RemoteError(.malformed, "reply without a body"))
        }
    }

    private func serve(_ envelope: IncomingEnvelope) {
        let id = envelope.id
        if envelope.type == Hello.type {
            greet(envelope)
            return
        }
        if requiresHello, !lock.withLock({ greeted }) {
            reply(id: id, error: RemoteError(.handshakeRequired, "send hello first"))
            return
        }
        guard let route = router.routes[envelope.type] else {
            reply(id: id, error: RemoteError(.unknownType, "unknown message type '\(envelope.type)'"))
            return
        }
        let body: any Sendable
        switch envelope.body {
        case .success(let decoded): body = decoded
        case .failure(let error):
            reply(id: id, error: RemoteError(.malformed, "\(envelope.type): \(error)"))
            return
        case nil:
            reply(id: id, error: RemoteError(.malformed, "\(envelope.type) without a body"))
            return
        }
        let context = RPCContext(peer: self, requestID: envelope.requestID)
        if let immediate = route.immediate {
            do {
                if let answer = try immediate(body, context) {
                    reply(id: id, body: answer)
                    return
                }
            } catch {
                reply(id: id, failure: error, type: envelope.type)
                return
            }
        }
        Task { [self] in
            do {
                reply(id: id, body: try await route.handle(body, context))
            } catch {
                reply(id: id, failure: error, type: envelope.type)
            }
        }
    }

    private func reply(id: UInt64, failure: any Error, type: String) {
        if let error = failure as? RemoteError {
            reply(id: id, error: error)
        } else {
            logger.error("rpc_handler_failed", ["type": type, "error": "\(failure)"])
            reply(id: id, error: RemoteError(.internal, "internal error"))
        }
    }

    private func greet(_ envelope: IncomingEnvelope) {
        guard case .success(let body) = envelope.body, let hello = body as? Hello else {
            reply(id: envelope.id, error: RemoteError(.malformed, "unreadable hello"))
            return
        }
        guard hello.protocolVersion == WireProtocol.version else {
            reply(id: envelope.id, error: RemoteError(.versionMismatch, "this side speaks protocol \(WireProtocol.version), not \(hello.protocolVersion)"))
            // Queued behind the reply's write, so the peer reads why before the close.
            stream.loop.execute { [stream] in stream.closeAfterFlush() }
            return
        }
        lock.withLock {
            greeted = true
            remoteRole = hello.role
            remoteName = hello.name
        }
        reply(id: envelope.id, body: HelloReply(role: localRole))
    }

    private func reply(id: UInt64, body: some Encodable) {
        do {
            stream.send(try OutgoingEnvelope(id: id, type: WireProtocol.okType, requestID: nil, body: body).encodedLine())
        } catch {
            reply(id: id, error: RemoteError(.internal, "cannot encode reply: \(error)"))
        }
    }

    private func reply(id: UInt64, error: RemoteError) {
        if let line = try? OutgoingEnvelope(id: id, type: WireProtocol.errorType, requestID: nil, body: error).encodedLine() {
            stream.send(line)
        }
    }

    private func expireOverdueCalls() {
        let now = DispatchTime.now()
        let overdue = lock.withLock { () -> [Pending] in
            let ids = pending.filter { $0.value.deadline < now }.map(\.key)
            return ids.compactMap { pending.removeValue(forKey: $0) }
        }
        for call in overdue { call.continuation.resume(throwing: RemoteError(.timedOut, "no reply in time")) }
    }

    private func connectionClosed() {
        sweeper?.cancel()
        sweeper = nil
        let (waiting, handlers) = lock.withLock { () -> ([Pending], [@Sendable () -> Void]) in
            closed = true
            defer {
                pending.removeAll()
                closeHandlers.removeAll()
            }
            return (Array(pending.values), closeHandlers)
        }
        for call in waiting { call.continuation.resume(throwing: RemoteError(.unavailable, "connection lost")) }
        handlers.forEach { $0() }
    }
}
