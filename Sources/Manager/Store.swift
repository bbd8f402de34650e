import Foundation
import Protocol
import Runtime
import SQLite
import Telephony

/// All campaign state, in one SQLite file. The only code that touches the database.
///
/// An actor on its own serial queue. Writes go through `mutate`: each runs in a savepoint of a
/// shared transaction that commits as soon as the actor has nothing else queued (group commit),
/// and the caller hears back only after that commit. Under load many writes share one fsync;
/// alone, a write commits at once.
actor Store {
    private let executor: QueueExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let database: Database
    private var inTransaction = false
    /// Which transaction a scheduled commit belongs to; one abandoned by SQLite is not committed.
    private var transactionGeneration = 0
    private var transactionStarted = ContinuousClock.now
    private var commitWaiters: [CheckedContinuation<Void, any Error>] = []
    let metrics: ManagerMetrics
    static let commitWindow = Duration.milliseconds(1)

    /// The calling window a campaign gets when it names none (`RYMI_DEFAULT_CALLING_WINDOW`).
    let defaultWindow: CallingWindow

    /// Per account, its webhook endpoints and the event types each takes (nil: not read yet):
    /// an account with none writes no event, at the cost of one dictionary lookup.
    var webhookSubscribers: [String: [(seq: Int64, events: Set<String>)]]?
    /// Campaigns' accounts, which never change: an event names its account.
    var campaignAccounts: [Int64: String] = [:]
    var campaignIDs: [Int64: String] = [:]
    /// Events were written in the transaction being committed: the sender is told after the commit.
    var outboxWritten = false
    /// A bulk event was written too: the sender expands it after the commit.
    var bulkEventsWritten = false
    /// Events of the write under way, rendered when it is done (so they show its final state).
    var pendingEvents: [PendingEvent] = []
    /// Uploads under way, by token (`Store+Upload`).
    var uploads: [String: UploadSession] = [:]
    /// Idempotency keys whose request is being served now, with its fingerprint (`Store+Idempotency`).
    var idempotencyKeysInFlight: [IdempotencyKey: String] = [:]
    private var outboxListener: (@Sendable (_ bulk: Bool) -> Void)?

    /// Called after every commit that wrote webhook events, saying whether a bulk event was among them.
    func onOutboxCommit(_ listener: @escaping @Sendable (_ bulk: Bool) -> Void) { outboxListener = listener }

    init(path: String, metrics: ManagerMetrics = ManagerMetrics(), defaultWindow: CallingWindow = .tcpa) throws {
        self.metrics = metrics
        self.defaultWindow = defaultWindow
        executor = QueueExecutor(label: "rymi.store")
        database = try Database(path: path)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            PRAGMA foreign_keys = ON;
            PRAGMA busy_timeout = 5000;
            PRAGMA cache_size = -32768;
            """)
        try Schema.migrate(database)
    }

    /// Flushes the WAL into the main file; called on shutdown.
    func checkpoint() {
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Runs `body` as one atomic write and returns once it is durable.
    func mutate<T>(_ body: () throws -> T) async throws -> T {
        if !inTransaction {
            try database.execute("BEGIN IMMEDIATE")
            inTransaction = true
            transactionStarted = ContinuousClock.now
            let generation = transactionGeneration
            Task {
                // A moment for more writes to join this commit: under load many share one fsync.
                try? await Task.sleep(for: Store.commitWindow)
                self.commit(generation: generation)
            }
        }
        try database.execute("SAVEPOINT mutation")
        let result: T
        do {
            result = try body()
            try writePendingEvents()
            try database.execute("RELEASE mutation")
        } catch {
            pendingEvents = []
            try? database.execute("ROLLBACK TO mutation")
            try? database.execute("RELEASE mutation")
            if database.isAutocommit {
                // SQLite rolled the whole transaction back by itself (disk full, I/O error): the
                // writes batched with this one are gone too, so their callers must hear it now.
                abandonTransaction(error)
            }
            throw error
        }
        try await withCheckedThrowingContinuation { commitWaiters.append($0) }
        return result
    }

    private func abandonTransaction(_ error: any Error) {
        outboxWritten = false
        bulkEventsWritten = false
        let waiters = commitWaiters
        commitWaiters = []
        inTransaction = false
        transactionGeneration += 1
        waiters.forEach { $0.resume(throwing: error) }
    }

    private func commit(generation: Int) {
        guard generation == transactionGeneration, inTransaction else { return }
        let waiters = commitWaiters
        commitWaiters = []
        inTransaction = false
        transactionGeneration += 1
        do {
            try database.execute("COMMIT")
            let elapsed = ContinuousClock.now - transactionStarted
            metrics.commitSeconds.observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            metrics.commitBatch.observe(Double(waiters.count))
            waiters.forEach { $0.resume() }
            if outboxWritten || bulkEventsWritten {
                outboxListener?(bulkEventsWritten)
                outboxWritten = false
                bulkEventsWritten = false
            }
        } catch {
            try? database.execute("ROLLBACK")
            waiters.forEach { $0.resume(throwing: error) }
        }
    }

    var queries: Queries { Queries(database: database) }
}
