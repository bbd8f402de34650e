import Crypto
import Dispatch
import Foundation
import JSON
import Protocol
import Runtime
import Transport

/// One end of a line-protocol connection: sends requests and awaits their replies (matched by
/// id, many in flight), and answers the peer's requests through a router.
///
/// Nothing but the handshake is read, parsed or answered until the peer has proved its role
/// (`WireAuthentication`); lines before that are bounded to a few KiB, and the accepting side
/// closes a connection that has not authenticated within its deadline. After the handshake every
/// line in both directions is sealed, and a request is served only if its message type lists the
/// peer's role among its senders.
public final class RPCPeer: @unchecked Sendable, EnvelopeBodyResolver {
    struct Pending {
        let decode: BodyDecoder
        let continuation: CheckedContinuation<any Sendable, any Error>
        let deadline: DispatchTime
    }

    /// Which end of the handshake this peer plays.
    public enum Side: Sendable {
        /// Accepted a connection: answers a `hello` from any role it holds a secret for.
        case accepting(secrets: [PeerRole: [UInt8]], handshakeTimeout: Double)
        /// Made the connection: proves `role` and checks that the other end is the manager.
        case connecting(role: PeerRole, name: String, secret: [UInt8])
    }

    /// The accepting side's handshake, on the stream's loop.
    private enum Handshake {
        case awaitingHello
        case awaitingProof(WireAuthentication.Transcript, secret: [UInt8])
        case done
    }

    public let stream: StreamConnection
    private let router: RPCRouter
    private let side: Side
    private let logger: Logger
    private let lock = NSLock()
    private var pending: [UInt64: Pending] = [:]
    private var nextID: UInt64 = 1
    private var closed = false
    private var closeHandlers: [@Sendable () -> Void] = []
    /// Seals outgoing lines once a session exists; held while a line is sealed and queued, so
    /// lines reach the socket in the order of their sequence numbers.
    private let sendLock = NSLock()
    private var sealer: LineSealer?
    // Confined to the stream's loop.
    private var splitter = LineSplitter(maxLineBytes: WireProtocol.maxHandshakeLineBytes)
    private var opener: LineOpener?
    private var handshake = Handshake.awaitingHello
    /// The loop's own copy of the remote role, read on every line without a lock.
    private var authenticatedRole: PeerRole?
    private var sweeper: EventLoop.Timer?
    private var lastReceived = DispatchTime.now()
    private let opened = DispatchTime.now()
    /// Closes the connection when the peer sends nothing for this long (clients ping every second).
    private let idleTimeout: Double?
    /// Set once the other end has proved its role (the manager, seen from a connecting side).
    private var remote: (role: PeerRole, name: String)?
    public var remoteRole: PeerRole? { lock.withLock { remote?.role } }
    public var remoteName: String? { lock.withLock { remote?.name } }
    /// The address the connection came from, for logs.
    public let remoteHost: String?

    public init(stream: StreamConnection, router: RPCRouter, side: Side, idleTimeout: Double? = nil, remoteHost: String? = nil, logger: Logger) {
        self.idleTimeout = idleTimeout
        self.stream = stream
        self.router = router
        self.side = side
        self.logger = logger
        self.remoteHost = remoteHost
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
            sendLine(line)
        }
        return reply as! Message.Reply
    }

    // MARK: EnvelopeBodyResolver

    public func bodyDecoder(type: String, id: UInt64) -> BodyDecoder? {
        switch type {
        case WireProtocol.okType: return lock.withLock { pending[id]?.decode }
        case WireProtocol.errorType: return { try JSONValueDecoder.decode(RemoteError.self, from: $0) }
        case Hello.type: return Hello.bodyDecoder
        case Authenticate.type: return Authenticate.bodyDecoder
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
        if authenticatedRole == nil, case .accepting(_, let handshakeTimeout) = side,
           DispatchTime.now().uptimeNanoseconds - opened.uptimeNanoseconds > UInt64(handshakeTimeout * 1e9) {
            refuse("rpc_handshake_timeout", "no proof within \(handshakeTimeout) s")
            return
        }
        guard let idleTimeout, DispatchTime.now().uptimeNanoseconds - lastReceived.uptimeNanoseconds > UInt64(idleTimeout * 1e9) else { return }
        logger.warning("rpc_peer_idle", ["peer": remoteName ?? "unknown", "seconds": "\(idleTimeout)"])
        stream.close(reason: .timedOut)
    }

    private func received(_ bytes: [UInt8]) {
        lastReceived = DispatchTime.now()
        splitter.append(bytes)
        while !stream.isClosed, let item = splitter.next() {
            switch item {
            case .oversized where authenticatedRole == nil:
                refuse("rpc_handshake_oversized", "line over \(splitter.maxLineBytes) bytes before authentication")
            case .oversized:
                reply(id: 0, error: RemoteError(.malformed, "line longer than \(splitter.maxLineBytes) bytes"))
            case .line(let line):
                guard opener != nil else {
                    handleLine(line[...])
                    continue
                }
                guard let envelope = opener!.open(line) else {
                    // A wrong secret, or a line altered, injected, replayed or reordered on the
                    // way: nothing after it can be trusted.
                    refuse(authenticatedRole == nil ? "rpc_auth_failed" : "rpc_seal_invalid", "bad seal")
                    return
                }
                handleLine(envelope)
            }
        }
    }

    /// Closes a connection that broke the handshake's or the seal's rules; logged, never answered.
    private func refuse(_ event: String, _ detail: String = "") {
        logger.warning(event, ["peer": remoteName ?? "unauthenticated", "remote": remoteHost ?? "unknown", "detail": detail])
        stream.close()
    }

    private func handleLine(_ line: ArraySlice<UInt8>) {
        let envelope: IncomingEnvelope
        do {
            envelope = try IncomingEnvelope(line: line, resolver: self)
        } catch {
            guard authenticatedRole != nil else { return refuse("rpc_handshake_malformed", "\(error)") }
            reply(id: error.id, error: RemoteError(.malformed, "not a protocol envelope: \(error)"))
            return
        }
        guard envelope.version == WireProtocol.version else {
            reply(id: envelope.id, error: RemoteError(.versionMismatch, "protocol version \(envelope.version) is not \(WireProtocol.version)"))
            if authenticatedRole == nil { stream.closeAfterFlush() }
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
        if case .accepting(let secrets, _) = side, authenticatedRole == nil {
            authenticate(envelope, secrets: secrets)
            return
        }
        guard let role = authenticatedRole else {
            // The connecting side serves nothing until the manager has proved itself.
            refuse("rpc_request_before_handshake", String(envelope.type.prefix(64)))
            return
        }
        guard let route = router.routes[envelope.type] else {
            reply(id: id, error: RemoteError(.unknownType, "unknown message type '\(envelope.type.prefix(64))'"))
            return
        }
        guard route.senders.contains(role) else {
            logger.warning("rpc_forbidden", ["peer": remoteName ?? "", "role": role.rawValue, "type": envelope.type])
            reply(id: id, error: RemoteError(.forbidden, "a \(role.rawValue) may not send \(envelope.type)"))
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

    /// The accepting side of the handshake: `hello`, then `authenticate` as the first sealed line.
    private func authenticate(_ envelope: IncomingEnvelope, secrets: [PeerRole: [UInt8]]) {
        switch handshake {
        case .awaitingHello:
            guard envelope.type == Hello.type else {
                reply(id: envelope.id, error: RemoteError(.handshakeRequired, "send hello first"))
                stream.closeAfterFlush()
                return
            }
            guard case .success(let body) = envelope.body, let hello = body as? Hello else {
                return refuse("rpc_handshake_malformed", "unreadable hello")
            }
            guard hello.protocolVersion == WireProtocol.version else {
                reply(id: envelope.id, error: RemoteError(.versionMismatch, "this side speaks protocol \(WireProtocol.version), not \(hello.protocolVersion)"))
                stream.closeAfterFlush()
                return
            }
            guard let role = PeerRole(rawValue: hello.role), let secret = secrets[role],
                  let clientNonce = Hex.decode(hello.nonce), clientNonce.count == WireAuthentication.nonceBytes,
                  PeerRole.isValidName(hello.name)
            else {
                reply(id: envelope.id, error: RemoteError(.unauthenticated, "authentication failed"))
                stream.closeAfterFlush()
                logger.warning("rpc_auth_failed", ["remote": remoteHost ?? "unknown", "reason": "bad hello"])
                return
            }
            let transcript = WireAuthentication.Transcript(role: role, name: hello.name, clientNonce: clientNonce,
                                                           serverNonce: WireAuthentication.freshNonce())
            let keys = WireAuthentication.sessionKeys(secret: secret, transcript)
            reply(id: envelope.id, body: HelloReply(role: PeerRole.manager.rawValue, nonce: Hex.encode(transcript.serverNonce),
                                                    proof: Hex.encode(WireAuthentication.serverProof(secret: secret, transcript))))
            // The reply above left unsealed; everything after it, both ways, is sealed.
            sendLock.withLock { sealer = LineSealer(key: keys.serverToClient) }
            opener = LineOpener(key: keys.clientToServer)
            handshake = .awaitingProof(transcript, secret: secret)
        case .awaitingProof(let transcript, let secret):
            guard envelope.type == Authenticate.type, case .success(let body) = envelope.body, let proof = body as? Authenticate,
                  WireAuthentication.matches(proof.proof, WireAuthentication.clientProof(secret: secret, transcript))
            else {
                return refuse("rpc_auth_failed", "bad proof")
            }
            handshake = .done
            splitter.maxLineBytes = transcript.role.maxLineBytes
            authenticatedRole = transcript.role
            lock.withLock { remote = (transcript.role, transcript.name) }
            logger.info("rpc_peer_authenticated", ["peer": transcript.name, "role": transcript.role.rawValue, "remote": remoteHost ?? "unknown"])
            reply(id: envelope.id, body: Empty())
        case .done:
            break
        }
    }

    // MARK: The connecting side's handshake

    /// Proves `role` to the manager and checks the manager's proof; throws, leaving the
    /// connection closed, when either fails. Call once, right after `start`.
    public func authenticateToManager(timeout: Double) async throws {
        guard case .connecting(let role, let name, let secret) = side else { return }
        let clientNonce = WireAuthentication.freshNonce()
        let answer = try await call(Hello(role: role.rawValue, name: name, nonce: Hex.encode(clientNonce)), timeout: timeout)
        guard answer.role == PeerRole.manager.rawValue, let serverNonce = Hex.decode(answer.nonce),
              serverNonce.count == WireAuthentication.nonceBytes else {
            close()
            throw RemoteError(.unauthenticated, "the peer did not answer the handshake as a manager")
        }
        let transcript = WireAuthentication.Transcript(role: role, name: name, clientNonce: clientNonce, serverNonce: serverNonce)
        guard WireAuthentication.matches(answer.proof, WireAuthentication.serverProof(secret: secret, transcript)) else {
            close()
            throw RemoteError(.unauthenticated, "the peer could not prove it holds the \(role.rawValue) secret: not our manager, or the two sides were given different secrets")
        }
        let keys = WireAuthentication.sessionKeys(secret: secret, transcript)
        // The opener must be in place before the sealed answer to `authenticate` can arrive.
        await onLoop {
            self.opener = LineOpener(key: keys.serverToClient)
            self.splitter.maxLineBytes = PeerRole.manager.maxLineBytes
        }
        sendLock.withLock { sealer = LineSealer(key: keys.clientToServer) }
        _ = try await call(Authenticate(proof: Hex.encode(WireAuthentication.clientProof(secret: secret, transcript))), timeout: timeout)
        lock.withLock { remote = (.manager, "manager") }
        await onLoop { self.authenticatedRole = .manager }
    }

    /// Runs `body` on the stream's loop, where the reading state lives, and waits for it.
    private func onLoop(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            stream.loop.execute {
                body()
                done.resume()
            }
        }
    }

    private func reply(id: UInt64, body: some Encodable) {
        do {
            sendLine(try OutgoingEnvelope(id: id, type: WireProtocol.okType, requestID: nil, body: body).encodedLine())
        } catch {
            reply(id: id, error: RemoteError(.internal, "cannot encode reply: \(error)"))
        }
    }

    private func reply(id: UInt64, error: RemoteError) {
        if let line = try? OutgoingEnvelope(id: id, type: WireProtocol.errorType, requestID: nil, body: error).encodedLine() {
            sendLine(line)
        }
    }

    /// Seals the line once a session exists, then queues it (the seal first, so the line itself
    /// is never copied to be sealed).
    private func sendLine(_ line: [UInt8]) {
        sendLock.withLock {
            if sealer != nil { stream.send(sealer!.prefix(for: line)) }
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
