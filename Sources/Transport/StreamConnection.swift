import Dispatch
import Glibc
import Runtime

/// One non-blocking TCP connection driven by Dispatch read/write sources (epoll underneath).
///
/// All state is confined to `queue`: callbacks run there, and `write`, `pauseReading`,
/// `resumeReading`, `setDeadline` and `close` must be called there. `send` may be called anywhere.
public final class StreamConnection: @unchecked Sendable {
    public enum CloseReason: Sendable, Equatable {
        case peerClosed
        case localClose
        case timedOut
        case error(Int32)
    }

    public struct Handlers: Sendable {
        public var onRead: @Sendable ([UInt8]) -> Void
        public var onClose: @Sendable (CloseReason) -> Void
        public var onTimeout: @Sendable () -> Void

        public init(onRead: @escaping @Sendable ([UInt8]) -> Void, onClose: @escaping @Sendable (CloseReason) -> Void, onTimeout: @escaping @Sendable () -> Void = {}) {
            self.onRead = onRead
            self.onClose = onClose
            self.onTimeout = onTimeout
        }
    }

    static let readChunk = 64 * 1024
    /// Reads per readiness event before yielding, so one fast sender cannot starve the queue.
    static let maxReadPerEvent = 1024 * 1024

    public let queue: DispatchQueue
    public let fd: Int32
    private var handlers: Handlers?
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var timer: (any DispatchSourceTimer)?
    private var readPaused = false
    private var writeArmed = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var closeWhenFlushed = false
    public private(set) var isClosed = false
    private var pendingCancellations = 0
    private var closeReason: CloseReason = .localClose

    public init(fd: Int32, target: DispatchQueue? = nil) {
        self.fd = fd
        self.queue = DispatchQueue(label: "rymi.connection", target: target)
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Bytes accepted by `write` that the kernel has not taken yet.
    public var pendingOutput: Int { outbound.count - outboundOffset }

    public func start(_ handlers: Handlers) {
        queue.async { [self] in
            self.handlers = handlers
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            read.setEventHandler { [unowned self] in readAvailable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            write.setEventHandler { [unowned self] in flush() }
            write.setCancelHandler { [self] in sourceCancelled() }
            readSource = read
            writeSource = write
            read.resume()
        }
    }

    private func readAvailable() {
        guard !isClosed else { return }
        var total = 0
        while total < Self.maxReadPerEvent, !readPaused, !isClosed {
            var result = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: Self.readChunk) { buffer, count in
                result = Glibc.read(fd, buffer.baseAddress, buffer.count)
                count = max(result, 0)
            }
            let code = result < 0 ? errno : 0
            if result > 0 {
                total += result
                handlers?.onRead(chunk)
            } else if result == 0 {
                close(reason: .peerClosed)
                return
            } else if code == EAGAIN {
                return
            } else if code != EINTR {
                close(reason: .error(code))
                return
            }
        }
    }

    /// Queues bytes for the peer. Call on `queue`.
    public func write(_ bytes: [UInt8]) {
        guard !isClosed, !bytes.isEmpty else { return }
        if outboundOffset == outbound.count {
            outbound = bytes
            outboundOffset = 0
        } else {
            outbound.append(contentsOf: bytes)
        }
        flush()
    }

    /// Queues bytes from any thread.
    public func send(_ bytes: [UInt8]) {
        queue.async { [self] in write(bytes) }
    }

    private func flush() {
        while outboundOffset < outbound.count, !isClosed {
            let written = outbound.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + outboundOffset, raw.count - outboundOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outboundOffset += written
                continue
            }
            if written < 0, errno == EINTR { continue }
            if written < 0, errno == EAGAIN {
                armWrite(true)
                return
            }
            close(reason: .error(errno))
            return
        }
        outbound.removeAll(keepingCapacity: outbound.count <= Self.readChunk)
        outboundOffset = 0
        armWrite(false)
        if closeWhenFlushed { close(reason: .localClose) }
    }

    private func armWrite(_ armed: Bool) {
        guard armed != writeArmed, let writeSource else { return }
        writeArmed = armed
        if armed { writeSource.resume() } else { writeSource.suspend() }
    }

    public func pauseReading() {
        guard !readPaused, !isClosed else { return }
        readPaused = true
        readSource?.suspend()
    }

    public func resumeReading() {
        guard readPaused, !isClosed else { return }
        readPaused = false
        readSource?.resume()
    }

    /// Calls `onTimeout` once `seconds` pass, unless replaced or cleared (`nil`) first.
    public func setDeadline(_ seconds: Double?) {
        guard !isClosed else { return }
        guard let seconds else {
            timer?.cancel()
            timer = nil
            return
        }
        if timer == nil {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [unowned self] in
                guard !isClosed else { return }
                handlers?.onTimeout()
            }
            timer.schedule(deadline: .now() + seconds, leeway: .milliseconds(50))
            timer.resume()
            self.timer = timer
        } else {
            timer?.schedule(deadline: .now() + seconds, leeway: .milliseconds(50))
        }
    }

    /// Closes once everything written so far has reached the kernel.
    public func closeAfterFlush() {
        guard !isClosed else { return }
        if pendingOutput == 0 {
            close(reason: .localClose)
        } else {
            closeWhenFlushed = true
            pauseReading()
        }
    }

    /// Closes with a TCP reset, discarding anything unsent (SO_LINGER 0).
    public func reset() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(reason: .localClose)
    }

    public func close(reason: CloseReason = .localClose) {
        guard !isClosed else { return }
        isClosed = true
        closeReason = reason
        timer?.cancel()
        timer = nil
        guard let readSource, let writeSource else {
            Glibc.close(fd)
            handlers?.onClose(reason)
            handlers = nil
            return
        }
        // The descriptor is closed only after both sources have let go of it.
        pendingCancellations = 2
        readSource.cancel()
        if readPaused { readSource.resume() }
        writeSource.cancel()
        if !writeArmed { writeSource.resume() }
        outbound = []
        outboundOffset = 0
    }

    private func sourceCancelled() {
        pendingCancellations -= 1
        guard pendingCancellations == 0 else { return }
        Glibc.close(fd)
        readSource = nil
        writeSource = nil
        handlers?.onClose(closeReason)
        handlers = nil
    }
}

extension StreamConnection {
    /// Connects to `address`, failing after `timeout` seconds.
    ///
    /// The blocking resolve/poll happens on a global Dispatch queue, never on the cooperative pool.
    public static func connect(to address: HostPort, timeout: Double) async throws -> StreamConnection {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { () throws(SocketError) -> StreamConnection in
                    let fd = try connectBlocking(to: address, timeout: timeout)
                    return StreamConnection(fd: fd)
                })
            }
        }
    }

    static func connectBlocking(to address: HostPort, timeout: Double) throws(SocketError) -> Int32 {
        var resolved = try ResolvedAddress.resolve(address, passive: false)
        let fd = try syscall("socket") { socket(resolved.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do throws(SocketError) {
            let length = resolved.length
            let result = withUnsafePointer(to: &resolved.storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            if result < 0 {
                guard errno == EINPROGRESS || errno == EINTR else { throw SocketError.system(call: "connect", errno: errno) }
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = try syscall("poll") { poll(&descriptor, 1, Int32(timeout * 1000)) }
                guard ready > 0 else { throw SocketError.timedOut(call: "connect") }
                var failure: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
                guard failure == 0 else { throw SocketError.system(call: "connect", errno: failure) }
            }
            return fd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }
}
