import Dispatch
import Foundation
import SQLite

/// Answers the API's reads from a connection of its own. In WAL mode it sees only committed
/// transactions, so a read never shows a group-commit batch that may yet fail, and reads run
/// beside the writer instead of queueing behind commits.
final class Reader: @unchecked Sendable {
    private let database: Database
    private let lock = NSLock()
    /// Where reads that may take milliseconds (a page of contacts) run: neither an event loop
    /// nor the cooperative pool, which the store and the dispatcher need.
    private let queue = DispatchQueue(label: "rymi.reader")

    /// Open after the store, which creates and migrates the file.
    init(path: String) throws {
        database = try Database(path: path)
        // A WAL reader waits only in rare recovery cases; it must not hold a loop for long.
        try database.execute("""
            PRAGMA query_only = ON;
            PRAGMA busy_timeout = 250;
            PRAGMA cache_size = -8192;
            """)
    }

    /// On the caller's thread, only if no other read is running (nil otherwise): for answering
    /// single rows on an event loop, which must never wait for a lock.
    func readIfFree<T>(_ body: (Queries) throws -> T) throws -> T? {
        guard lock.try() else { return nil }
        defer { lock.unlock() }
        return try snapshot(body)
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Queries) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                continuation.resume(with: Result { try lock.withLock { try snapshot(body) } })
            }
        }
    }

    /// One transaction, so the campaign and its contacts come from the same moment.
    private func snapshot<T>(_ body: (Queries) throws -> T) throws -> T {
        try database.execute("BEGIN")
        defer { try? database.execute("COMMIT") }
        return try body(Queries(database: database))
    }
}
