import CEpoll
import Foundation
import Glibc

/// Something registered with an event loop for a descriptor's readiness.
public protocol EventLoopHandler: AnyObject {
    /// Runs on the loop's thread. `failed` means EPOLLERR or EPOLLHUP: a read will tell which.
    func ready(readable: Bool, writable: Bool, failed: Bool)
}

/// One thread waiting in epoll and doing, itself, the work of what became ready: reads, writes,
/// timers and work handed to it with `execute`. A connection lives on one loop, so its work never
/// hops between threads (Dispatch sources hand every event to another worker thread, and those
/// hand-offs were a fifth of the gateway's profile).
public final class EventLoop: @unchecked Sendable {
    /// A pending call of `schedule`; cancel it to drop it.
    public final class Timer: @unchecked Sendable {
        fileprivate let deadline: UInt64
        fileprivate let work: () -> Void
        fileprivate var cancelled = false

        fileprivate init(deadline: UInt64, work: @escaping () -> Void) {
            self.deadline = deadline
            self.work = work
        }

        /// Call on the loop.
        public func cancel() { cancelled = true }
    }

    private let epoll: Int32
    private let wake: Int32
    private let lock = NSLock()
    private var queued: [() -> Void] = []
    private var wakePending = false
    // Confined to the loop's thread.
    private var handlers: [Int32: any EventLoopHandler] = [:]
    private var timers = TimerHeap()
    /// One buffer for every read on this loop; readers copy out what they got.
    var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// - Parameter niceness: added to the nice value of the loop's thread alone (on Linux it is per
    ///   thread): work that may wait gives way to the rest of the process when the CPU is short.
    public init(name: String, niceness: Int32 = 0) {
        epoll = rymi_epoll_create()
        wake = rymi_eventfd()
        precondition(epoll >= 0 && wake >= 0, "epoll or eventfd unavailable: errno \(errno)")
        rymi_epoll_ctl(epoll, rymi_epoll_add, wake, rymi_epollin)
        let thread = Thread { [self] in
            if niceness != 0 { _ = nice(niceness) }
            run()
        }
        thread.name = name
        thread.start()
    }

    /// Runs `work` on the loop, after whatever it is doing now. Any thread.
    public func execute(_ work: @escaping () -> Void) {
        let mustWake = lock.withLock { () -> Bool in
            queued.append(work)
            defer { wakePending = true }
            return !wakePending
        }
        if mustWake {
            var one: UInt64 = 1
            _ = Glibc.write(wake, &one, 8)
        }
    }

    /// Runs `work` on the loop after `seconds`. Call on the loop.
    @discardableResult
    public func schedule(after seconds: Double, _ work: @escaping () -> Void) -> Timer {
        let timer = Timer(deadline: Self.now() &+ UInt64(max(0, seconds) * 1e9), work: work)
        timers.push(timer)
        return timer
    }

    // MARK: Registration (on the loop)

    public func register(_ fd: Int32, readable: Bool, writable: Bool, handler: any EventLoopHandler) {
        handlers[fd] = handler
        control(rymi_epoll_add, fd, readable: readable, writable: writable)
    }

    public func update(_ fd: Int32, readable: Bool, writable: Bool) {
        control(rymi_epoll_modify, fd, readable: readable, writable: writable)
    }

    /// Forgets `fd`; call before closing it.
    public func deregister(_ fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        rymi_epoll_ctl(epoll, rymi_epoll_delete, fd, 0)
    }

    private func control(_ operation: Int32, _ fd: Int32, readable: Bool, writable: Bool) {
        rymi_epoll_ctl(epoll, operation, fd, (readable ? rymi_epollin | rymi_epollrdhup : 0) | (writable ? rymi_epollout : 0))
    }

    // MARK: The loop

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    private func run() {
        var events = [rymi_epoll_ready](repeating: rymi_epoll_ready(), count: 256)
        while true {
            let timeout: Int32
            if let next = timers.earliest {
                let now = Self.now()
                timeout = next <= now ? 0 : Int32(min((next - now + 999_999) / 1_000_000, 60_000))
            } else {
                timeout = -1
            }
            let count = events.withUnsafeMutableBufferPointer { rymi_epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            if count < 0, errno != EINTR { fatalError("epoll_wait failed: errno \(errno)") }
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                let fd = event.fd
                if fd == wake {
                    var value: UInt64 = 0
                    _ = Glibc.read(wake, &value, 8)
                    continue
                }
                // A handler closed by an earlier event of this batch is gone from the table.
                guard let handler = handlers[fd] else { continue }
                let flags = event.events
                handler.ready(
                    readable: flags & (rymi_epollin | rymi_epollrdhup) != 0,
                    writable: flags & rymi_epollout != 0,
                    failed: flags & (rymi_epollerr | rymi_epollhup) != 0
                )
            }
            runExpiredTimers()
            runQueued()
        }
    }

    private func runExpiredTimers() {
        let now = Self.now()
        while let timer = timers.popExpired(now: now) {
            timer.work()
        }
    }

    private func runQueued() {
        let work = lock.withLock { () -> [() -> Void] in
            wakePending = false
            defer { queued.removeAll(keepingCapacity: true) }
            return queued
        }
        for item in work { item() }
    }
}

/// A binary min-heap of timers by deadline.
struct TimerHeap {
    private var items: [EventLoop.Timer] = []

    var earliest: UInt64? { items.first?.deadline }

    mutating func push(_ timer: EventLoop.Timer) {
        items.append(timer)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// The earliest timer if it is due (cancelled ones included, for the caller to skip).
    mutating func popExpired(now: UInt64) -> EventLoop.Timer? {
        while let first = items.first {
            guard first.deadline <= now || first.cancelled else { return nil }
            items.swapAt(0, items.count - 1)
            let timer = items.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left].deadline < items[smallest].deadline { smallest = left }
                if right < items.count, items[right].deadline < items[smallest].deadline { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
            if !timer.cancelled { return timer }
        }
        return nil
    }
}

/// The loops of a process; connections are spread over them in turn.
public final class EventLoopGroup: @unchecked Sendable {
    /// `RYMI_EVENT_LOOPS`, else one per core. On a shared two-core machine one loop gives a
    /// lower tail on trivial requests (p99 3.8 ms against 5.8 ms for /healthz) but less
    /// throughput and a worse tail on requests that wait for the manager (docs/performance.md).
    public static let shared = EventLoopGroup(count: Int(ProcessInfo.processInfo.environment["RYMI_EVENT_LOOPS"] ?? "")
        ?? ProcessInfo.processInfo.activeProcessorCount)

    public let loops: [EventLoop]
    private let lock = NSLock()
    private var turn = 0

    public init(count: Int) {
        loops = (0..<max(1, count)).map { EventLoop(name: "rymi.loop\($0)") }
    }

    public func next() -> EventLoop {
        lock.withLock {
            turn &+= 1
            return loops[turn % loops.count]
        }
    }
}

/// Tasks that prefer a loop run on its thread: a request's handler, the replies it awaits and its
/// answer then stay on the thread that read it, instead of hopping to the cooperative pool and back.
extension EventLoop: TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        execute { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}
