import Foundation
import Glibc
import Protocol
import Runtime
import Transport

/// Accepts line-protocol connections and serves each through the router, once it has proved
/// its role with that role's secret.
public final class RPCServer: Service, @unchecked Sendable {
    /// Bounds on what strangers can hold open.
    public struct Limits: Sendable {
        public var maxConnections = 1024
        public var maxConnectionsPerHost = 64
        /// From accept until the peer has proved its role.
        public var handshakeTimeout = 5.0

        public init() {}
    }

    public let localAddress: HostPort
    private let listener: TCPListener
    private let router: RPCRouter
    private let secrets: [PeerRole: [UInt8]]
    private let limits: Limits
    private let admission: ConnectionLimiter
    private let logger: Logger
    private let lock = NSLock()
    private var peers: [ObjectIdentifier: RPCPeer] = [:]
    private var lastRefusalLogged = DispatchTime(uptimeNanoseconds: 0)
    private let stopped = AsyncStream<Void>.makeStream()

    /// - Parameter secrets: each role that may connect, with the secret it must prove.
    public init(address: HostPort, secrets: [PeerRole: [UInt8]], limits: Limits = Limits(), router: RPCRouter, logger: Logger) throws {
        listener = try TCPListener(address: address)
        localAddress = listener.localAddress
        self.router = router
        self.secrets = secrets
        self.limits = limits
        admission = ConnectionLimiter(maxTotal: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerHost)
        self.logger = logger
    }

    public func run() async throws {
        listener.start { [self] fd, address in accept(fd, from: address) }
        for await _ in stopped.stream { break }
    }

    private func accept(_ fd: Int32, from address: PeerAddress?) {
        guard admission.admit(address) == .admitted else {
            close(fd)
            logRefusal(address)
            return
        }
        let peer = RPCPeer(stream: StreamConnection(fd: fd), router: router,
                           side: .accepting(secrets: secrets, handshakeTimeout: limits.handshakeTimeout),
                           idleTimeout: Self.idleTimeout, remoteHost: address?.description, logger: logger)
        let key = ObjectIdentifier(peer)
        lock.withLock { peers[key] = peer }
        peer.onClose { [weak self] in
            guard let self else { return }
            _ = lock.withLock { peers.removeValue(forKey: key) }
            admission.release(address)
        }
        peer.start()
    }

    /// At most one line a second, so a flood of refused connections cannot flood the log too.
    private func logRefusal(_ address: PeerAddress?) {
        let now = DispatchTime.now()
        let due = lock.withLock { () -> Bool in
            guard now.uptimeNanoseconds - lastRefusalLogged.uptimeNanoseconds > 1_000_000_000 else { return false }
            lastRefusalLogged = now
            return true
        }
        if due { logger.warning("rpc_connection_refused", ["remote": address?.description ?? "unknown", "reason": "connection limit"]) }
    }

    /// Clients ping every second; ten silent seconds mean the peer or its link is gone.
    static let idleTimeout = 10.0

    public func shutdown() async {
        listener.stop()
        lock.withLock { Array(peers.values) }.forEach { $0.close() }
        stopped.continuation.finish()
    }
}
