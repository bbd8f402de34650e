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
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let fd = self.fd
        source.setEventHandler {
            while true {
                let client = Glibc.accept(fd, nil, nil)
                if client >= 0 {
                    _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                    onAccept(client)
                    continue
                }
                // EAGAIN: drained. EMFILE and friends: the next readiness event retries.
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
        }
        source.setCancelHandler { close(fd) }
        queue.sync { self.source = source }
        source.resume()
    }

    /// Stops accepting new connections; connections already accepted are not affected.
    public func stop() {
        queue.sync {
            if let source { source.cancel() } else { close(fd) }
            source = nil
        }
    }
}
