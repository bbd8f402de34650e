import Foundation
import SQLite

/// Answers the API's reads from a connection of its own. In WAL mode it sees only committed
/// transactions, so a read never shows a group-commit batch that may yet fail, and reads run
/// beside the writer (on the caller's thread) instead of queueing behind commits.
final class Reader: @unchecked Sendable {
    private let database: Database
    private let lock = NSLock()

    /// Open after the store, which creates and migrates the file.
    init(path: String) throws {
        database = try Database(path: path)
        try database.execute("""
            PRAGMA query_only = ON;
            PRAGMA busy_timeout = 5000;
            PRAGMA cache_size = -8192;
            """)
    }

    func read<T>(_ body: (Queries) throws -> T) throws -> T {
        try lock.withLock { try body(Queries(database: database)) }
    }
}
