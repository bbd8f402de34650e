import Foundation
import Protocol
import Runtime
import Transport

/// One multiplexed connection to the manager that reconnects with backoff when it drops.
///
/// Each connection starts with the handshake: this side proves its role with the role's secret,
/// and the manager must prove it holds the same secret, else the connection is dropped before
/// anything else is sent or served. While disconnected, `call` fails at once with `unavailable`,
/// so callers can answer 503 instead of waiting.
public final class RPCClient: Service, @unchecked Sendable {
    public let address: HostPort
    private let role: PeerRole
    private let name: String
    private let secret: [UInt8]
    private let router: RPCRouter
    private let logger: Logger
    private let lock = NSLock()
    private var peer: RPCPeer?
    private var stopping = false
    private let onConnect: @Sendable (RPCPeer) async -> Void

    public init(address: HostPort, role: PeerRole, name: String, secret: [UInt8], router: RPCRouter = RPCRouter(), logger: Logger,
                onConnect: @escaping @Sendable (RPCPeer) async -> Void = { _ in }) {
        self.address = address
        self.role = role
        self.name = name
        self.secret = secret
        self.router = router
        self.logger = logger
        self.onConnect = onConnect
    }

    public var isConnected: Bool { lock.withLock { peer.map { !$0.isClosed } ?? false } }

    public func call<Message: RPCMessage>(_ message: Message, requestID: String? = nil, timeout: Double = 30) async throws -> Message.Reply {
        guard let peer = lock.withLock({ peer }), !peer.isClosed else {
            throw RemoteError(.unavailable, "not connected to \(address)")
        }
        return try await peer.call(message, requestID: requestID, timeout: timeout)
    }

    public func run() async throws {
        var backoff = 0.05
        while !lock.withLock({ stopping }) {
            do {
                let closed = AsyncStream<Void>.makeStream()
                let peer = try await Self.connect(to: address, role: role, name: name, secret: secret, router: router, logger: logger) {
                    closed.continuation.finish()
                }
                let keep = lock.withLock { () -> Bool in
                    guard !stopping else { return false }
                    self.peer = peer
                    return true
                }
                guard keep else {
                    peer.close()
                    break
                }
                logger.info("rpc_connected", ["addr": address.description])
                backoff = 0.05
                await onConnect(peer)
                let heartbeat = Task { await Self.heartbeat(peer, logger: logger, address: address) }
                for await _ in closed.stream {}
                heartbeat.cancel()
                lock.withLock { if self.peer === peer { self.peer = nil } }
                // Our own shutdown closing it is expected; losing the manager is not.
                if lock.withLock({ stopping }) {
                    logger.info("rpc_closed", ["addr": address.description])
                } else {
                    logger.warning("rpc_disconnected", ["addr": address.description])
                }
            } catch let error as RemoteError where error.code == .unauthenticated {
                logger.error("rpc_manager_unverified", ["addr": address.description, "error": error.message])
            } catch {
                logger.debug("rpc_connect_failed", ["addr": address.description, "error": "\(error)"])
            }
            guard !lock.withLock({ stopping }) else { break }
            try? await Task.sleep(nanoseconds: UInt64(backoff * 1_000_000_000))
            backoff = min(backoff * 2, 2)
        }
    }

    /// A connection on which both sides have proved the role's secret.
    public static func connect(to address: HostPort, role: PeerRole, name: String, secret: [UInt8], router: RPCRouter = RPCRouter(),
                               logger: Logger, onClose: @escaping @Sendable () -> Void = {}) async throws -> RPCPeer {
        let stream = try await StreamConnection.connect(to: address, timeout: 2)
        let peer = RPCPeer(stream: stream, router: router, side: .connecting(role: role, name: name, secret: secret),
                           remoteHost: address.description, logger: logger)
        peer.onClose(onClose)
        peer.start()
        do {
            try await peer.authenticateToManager(timeout: 5)
        } catch {
            peer.close()
            throw error
        }
        return peer
    }

    /// Pings every second; three missed answers in a row mean the link is gone (a cut cable sends
    /// no reset), so the connection is closed and the run loop reconnects.
    static func heartbeat(_ peer: RPCPeer, logger: Logger, address: HostPort) async {
        var missed = 0
        while !Task.isCancelled, !peer.isClosed {
            try? await Task.sleep(for: .seconds(1))
            do {
                _ = try await peer.call(Ping(), timeout: 2)
                missed = 0
            } catch {
                missed += 1
                if missed >= 3 {
                    logger.warning("rpc_heartbeat_lost", ["addr": address.description])
                    peer.close()
                    return
                }
            }
        }
    }

    public func shutdown() async {
        let current = lock.withLock { () -> RPCPeer? in
            stopping = true
            return peer
        }
        current?.close()
    }
}
