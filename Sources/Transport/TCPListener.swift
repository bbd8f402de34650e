import Dispatch
import Glibc
import Runtime

/// A listening TCP socket that hands each accepted connection's descriptor to a callback.
public final class TCPListener: @unchecked Sendable {
    /// The address actually bound: with port 0 in the configuration, the kernel's choice.
    public let localAddress: HostPort
    private let fd: Int32
    private let queue: DispatchQueue
    private var source: (any DispatchSourceRead)?
    /// The source is suspended after running out of descriptors (on `queue`).
    private var acceptPaused = false

    public init(address: HostPort, backlog: Int32 = 4096) throws(SocketError) {
        var resolved = try ResolvedAddress.resolve(address, passive: true)
        let fd = try syscall("socket") { socket(resolved.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        do throws(SocketError) {
            let length = resolved.length
            _ = try withUnsafePointer(to: &resolved.storage) { pointer throws(SocketError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SocketError) in
                    try syscall("bind") { bind(fd, address, length) }
                }
            }
            try syscall("listen") { listen(fd, backlog) }
            localAddress = try ResolvedAddress.local(of: fd)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.queue = DispatchQueue(label: "rymi.listener")
    }

    /// Starts accepting; `onAccept` runs on the listener's queue with a non-blocking descriptor.
    public func start(onAccept: @escaping @Sendable (Int32) -> Void) {
        start { fd, _ in onAccept(fd) }
    }

    /// How long accepting pauses when the process (or system) is out of descriptors or memory.
    static let exhaustedPause = 0.1

    /// Starts accepting; `onAccept` runs on the listener's queue with a non-blocking descriptor and
    /// the peer's address (nil for a family other than IPv4/IPv6).
    public func start(onAccept: @escaping @Sendable (Int32, PeerAddress?) -> Void) {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let fd = self.fd
        source.setEventHandler { [weak self] in
            while true {
                var storage = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let client = withUnsafeMutablePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &length) }
                }
                if client >= 0 {
                    _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                    onAccept(client, PeerAddress(storage))
                    continue
                }
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                // Out of descriptors or memory: the pending connection stays in the backlog and the
                // level-triggered source would fire again at once, spinning a core. Pause instead;
                // connections closing meanwhile make room.
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM { self?.pauseAccepting() }
                // EAGAIN: drained.
                return
            }
        }
        source.setCancelHandler { close(fd) }
        queue.sync { self.source = source }
        source.resume()
    }

    /// On the queue: suspends the source, resuming it after `exhaustedPause`.
    private func pauseAccepting() {
        guard let source, !acceptPaused else { return }
        acceptPaused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + Self.exhaustedPause) { [self] in
            guard acceptPaused else { return }
            acceptPaused = false
            self.source?.resume()
        }
    }

    /// Stops accepting new connections; connections already accepted are not affected.
    public func stop() {
        queue.sync {
            if let source {
                source.cancel()
                // A suspended source runs its cancel handler (closing the socket) only once resumed.
                if acceptPaused {
                    acceptPaused = false
                    source.resume()
                }
            } else {
                close(fd)
            }
            source = nil
        }
    }
}
