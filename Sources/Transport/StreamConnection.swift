import Dispatch
import Foundation
import Glibc
import Runtime

/// One non-blocking TCP connection on an event loop.
///
/// All state is confined to `loop`: callbacks run there, and `write`, `pauseReading`,
/// `resumeReading`, `setDeadline` and `close` must be called there. `send` may be called anywhere.
public final class StreamConnection: EventLoopHandler, @unchecked Sendable {
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
        /// When set, the peer shutting down its sending side (a read of 0 bytes) does not close
        /// the connection: reading stops for good and this is called, so answers still owed can
        /// be written before the connection is closed. Unset, end of input closes at once.
        public var onReadEnd: (@Sendable () -> Void)?
        /// Called when output that had to wait for the peer has all been taken by the kernel.
        public var onDrained: (@Sendable () -> Void)?

        public init(onRead: @escaping @Sendable ([UInt8]) -> Void, onClose: @escaping @Sendable (CloseReason) -> Void, onTimeout: @escaping @Sendable () -> Void = {},
                    onReadEnd: (@Sendable () -> Void)? = nil, onDrained: (@Sendable () -> Void)? = nil) {
            self.onRead = onRead
            self.onClose = onClose
            self.onTimeout = onTimeout
            self.onReadEnd = onReadEnd
            self.onDrained = onDrained
        }
    }

    /// Reads per readiness event before yielding, so one fast sender cannot starve the loop.
    static let maxReadPerEvent = 1024 * 1024

    public let loop: EventLoop
    public let fd: Int32
    private var handlers: Handlers?
    private var registered = false
    private var readPaused = false
    /// The peer has shut down its sending side; reading never resumes.
    public private(set) var readEnded = false
    private var writeArmed = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var closeWhenFlushed = false
    /// With `closeAfterFlush(linger:)`: how long to keep reading (and discarding) after our FIN.
    private var lingerSeconds: Double?
    /// Our side is shut down; whatever arrives is read and dropped until the peer closes.
    private var discarding = false
    private let sendLock = NSLock()
    private var sendQueue: [UInt8] = []
    private var sendScheduled = false
    public private(set) var isClosed = false
    /// The deadline asked for, and the loop timer that will look at it: moving a deadline later
    /// (every keep-alive request does) costs nothing; the timer re-arms itself when it fires.
    private var deadline: UInt64?
    private var deadlineTimer: EventLoop.Timer?
    private var deadlineTimerAt: UInt64 = 0
    /// When set, a connection whose waiting output has not moved for this many seconds is closed
    /// (`timedOut`): a peer that never reads cannot hold our memory forever.
    public var writeStallTimeout: Double?
    private var lastWriteProgress: UInt64 = 0
    private var stallTimer: EventLoop.Timer?

    public init(fd: Int32, loop: EventLoop = EventLoopGroup.shared.next()) {
        self.fd = fd
        self.loop = loop
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Bytes accepted by `write` that the kernel has not taken yet.
    public var pendingOutput: Int { outbound.count - outboundOffset }

    public func start(_ handlers: Handlers) {
        loop.execute { [self] in
            guard !isClosed else { return }
            self.handlers = handlers
            registered = true
            loop.register(fd, readable: !readPaused, writable: writeArmed, handler: self)
        }
    }

    public func ready(readable: Bool, writable: Bool, failed: Bool) {
        if writable || (failed && writeArmed) { flush() }
        // epoll reports errors and hang-ups whatever the interest, level-triggered: with reading
        // paused nothing would consume them and the loop would spin.
        if failed, readPaused, !isClosed {
            var code: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size)
            close(reason: code == 0 ? .peerClosed : .error(code))
            return
        }
        if readable || failed { readAvailable() }
    }

    private func readAvailable() {
        var total = 0
        while total < Self.maxReadPerEvent, !readPaused, !isClosed {
            let result = loop.readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            let code = result < 0 ? errno : 0
            if result > 0, discarding {
                total += result
                continue
            }
            if result == 0, discarding {
                close(reason: .localClose)
                return
            }
            if result > 0 {
                total += result
                handlers?.onRead(Array(loop.readBuffer[0..<result]))
                // A short read drained the socket; epoll (level-triggered) reports whatever comes
                // next, so the read that would only say EAGAIN is skipped.
                if result < loop.readBuffer.count { return }
            } else if result == 0 {
                if let onReadEnd = handlers?.onReadEnd {
                    readEnded = true
                    readPaused = true
                    updateInterest()
                    onReadEnd()
                } else {
                    close(reason: .peerClosed)
                }
                return
            } else if code == EAGAIN {
                return
            } else if code != EINTR {
                close(reason: .error(code))
                return
            }
        }
    }

    /// Queues bytes for the peer. Call on `loop`.
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

    /// Queues bytes from any thread. Sends made before the loop gets to them leave in one
    /// write: many RPC lines per syscall under load.
    public func send(_ bytes: [UInt8]) {
        let mustSchedule = sendLock.withLock { () -> Bool in
            sendQueue.append(contentsOf: bytes)
            defer { sendScheduled = true }
            return !sendScheduled
        }
        if mustSchedule { loop.execute { [self] in writeQueuedSends() } }
    }

    private func writeQueuedSends() {
        let bytes = sendLock.withLock { () -> [UInt8] in
            sendScheduled = false
            defer { sendQueue = [] }
            return sendQueue
        }
        write(bytes)
    }

    private func flush() {
        while outboundOffset < outbound.count, !isClosed {
            let written = outbound.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + outboundOffset, raw.count - outboundOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outboundOffset += written
                // Only output that had to wait is watched; the common path takes no clock.
                if writeArmed { lastWriteProgress = EventLoop.now() }
                continue
            }
            if written < 0, errno == EINTR { continue }
            if written < 0, errno == EAGAIN {
                if !writeArmed { lastWriteProgress = EventLoop.now() }
                armWrite(true)
                if stallTimer == nil, let writeStallTimeout { armStallTimer(after: writeStallTimeout) }
                return
            }
            close(reason: .error(errno))
            return
        }
        guard !isClosed else { return }
        outbound.removeAll(keepingCapacity: outbound.count <= 64 * 1024)
        outboundOffset = 0
        let waited = writeArmed
        armWrite(false)
        stallTimer?.cancel()
        stallTimer = nil
        if closeWhenFlushed {
            if let lingerSeconds { linger(lingerSeconds) } else { close(reason: .localClose) }
        } else if waited {
            handlers?.onDrained?()
        }
    }

    private func armStallTimer(after seconds: Double) {
        stallTimer = loop.schedule(after: seconds) { [weak self] in self?.stallTimerFired() }
    }

    private func stallTimerFired() {
        stallTimer = nil
        guard !isClosed, writeArmed, let writeStallTimeout else { return }
        let stalled = Double(EventLoop.now() &- lastWriteProgress) / 1e9
        if stalled >= writeStallTimeout {
            close(reason: .timedOut)
        } else {
            armStallTimer(after: writeStallTimeout - stalled)
        }
    }

    private func armWrite(_ armed: Bool) {
        guard armed != writeArmed else { return }
        writeArmed = armed
        updateInterest()
    }

    private func updateInterest() {
        guard registered, !isClosed else { return }
        loop.update(fd, readable: !readPaused, writable: writeArmed)
    }

    public func pauseReading() {
        guard !readPaused, !isClosed else { return }
        readPaused = true
        updateInterest()
    }

    public func resumeReading() {
        guard readPaused, !readEnded, !isClosed else { return }
        readPaused = false
        updateInterest()
    }

    /// Calls `onTimeout` once `seconds` pass, unless replaced or cleared (`nil`) first.
    public func setDeadline(_ seconds: Double?) {
        guard !isClosed else { return }
        guard let seconds else {
            deadline = nil
            return
        }
        let due = EventLoop.now() &+ UInt64(seconds * 1e9)
        deadline = due
        if deadlineTimer == nil || due < deadlineTimerAt { armDeadlineTimer(at: due) }
    }

    private func armDeadlineTimer(at due: UInt64) {
        deadlineTimer?.cancel()
        deadlineTimerAt = due
        deadlineTimer = loop.schedule(after: Double(due &- min(due, EventLoop.now())) / 1e9) { [weak self] in self?.deadlineTimerFired() }
    }

    private func deadlineTimerFired() {
        deadlineTimer = nil
        guard !isClosed, let deadline else { return }
        if deadline > EventLoop.now() {
            armDeadlineTimer(at: deadline)
            return
        }
        self.deadline = nil
        handlers?.onTimeout()
    }

    /// Closes once everything written so far has reached the kernel.
    public func closeAfterFlush() {
        guard !isClosed else { return }
        // Bytes another thread has sent but the loop has not written yet come first.
        writeQueuedSends()
        guard !isClosed else { return }
        if pendingOutput == 0 {
            if let lingerSeconds { linger(lingerSeconds) } else { close(reason: .localClose) }
        } else {
            closeWhenFlushed = true
            pauseReading()
        }
    }

    /// Closes once everything written so far has reached the kernel, the way a server refusing a
    /// request mid-upload must (RFC 9112 §9.6): our side is shut down first, then whatever the
    /// peer still sends is read and dropped for up to `seconds` or until it closes. Closing at once
    /// with unread bytes would send a reset, which can destroy the answer before the peer reads it.
    public func closeAfterFlush(linger seconds: Double) {
        guard !isClosed else { return }
        lingerSeconds = seconds
        closeAfterFlush()
    }

    private func linger(_ seconds: Double) {
        closeWhenFlushed = false
        guard !readEnded else {
            close(reason: .localClose)
            return
        }
        shutdown(fd, Int32(SHUT_WR))
        discarding = true
        readPaused = false
        updateInterest()
        // A peer that keeps sending is cut off when the time is up.
        deadline = nil
        loop.schedule(after: seconds) { [weak self] in self?.close(reason: .localClose) }
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
        deadlineTimer?.cancel()
        deadlineTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
        if registered { loop.deregister(fd) }
        Glibc.close(fd)
        outbound = []
        outboundOffset = 0
        let handlers = self.handlers
        self.handlers = nil
        // After the current event, as with any other callback: the closer may be mid-handler.
        loop.execute { handlers?.onClose(reason) }
    }
}

extension StreamConnection {
    /// Connects to `address`, failing after `timeout` seconds.
    ///
    /// The blocking resolve/poll happens on a global Dispatch queue, never on the cooperative pool.
    public static func connect(to address: HostPort, timeout: Double, loop: EventLoop? = nil) async throws -> StreamConnection {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { () throws(SocketError) -> StreamConnection in
                    let fd = try connectBlocking(to: address, timeout: timeout)
                    return StreamConnection(fd: fd, loop: loop ?? EventLoopGroup.shared.next())
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
