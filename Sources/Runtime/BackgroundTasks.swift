import Foundation

/// Loops a service runs beside its main work (retries, status files), kept so that stopping the
/// service stops them too instead of leaving them to run until the process exits.
public final class BackgroundTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Task<Void, Never>] = []
    private var cancelled = false

    public init() {}

    /// Starts `work`; it should end when its task is cancelled (`Task.isCancelled`).
    public func start(_ work: @escaping @Sendable () async -> Void) {
        let task = Task { await work() }
        let keep = lock.withLock { () -> Bool in
            guard !cancelled else { return false }
            tasks.append(task)
            return true
        }
        if !keep { task.cancel() }
    }

    public func cancelAll() {
        let running = lock.withLock { () -> [Task<Void, Never>] in
            cancelled = true
            defer { tasks = [] }
            return tasks
        }
        running.forEach { $0.cancel() }
    }
}
