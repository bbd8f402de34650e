import Foundation
import Protocol
import Runtime
import Transport

/// Accepts line-protocol connections and serves each through the router.
public final class RPCServer: Service, @unchecked Sendable {
    public let localAddress: HostPort
    private let listener: TCPListener
    private let router: RPCRouter
    private let role: String
    private let logger: Logger
    private let lock = NSLock()
    private var peers: [ObjectIdentifier: RPCPeer] = [:]
    private let stopped = AsyncStream<Void>.makeStream()

    public init(address: HostPort, role: String, router: RPCRouter, logger: Logger) throws {
        listener = try TCPListener(address: address)
        localAddress = listener.localAddress
        self.router = router
        self.role = role
        self.logger = logger
    }

    public func run() async throws {
        listener.start { [self] fd in
            let peer = RPCPeer(stream: StreamConnection(fd: fd), router: router, localRole: role, requiresHello: true,
                               idleTimeout: Self.idleTimeout, logger: logger)
            let key = ObjectIdentifier(peer)
            lock.withLock { peers[key] = peer }
            peer.onClose { [weak self] in
                guard let self else { return }
                _ = lock.withLock { self.peers.removeValue(forKey: key) }
            }
            peer.start()
        }
        for await _ in stopped.stream { break }
    }

    /// Clients ping every second; ten silent seconds mean the peer or its link is gone.
    static let idleTimeout = 10.0

    public func shutdown() async {
        listener.stop()
        lock.withLock { Array(peers.values) }.forEach { $0.close() }
        stopped.continuation.finish()
    }
}
