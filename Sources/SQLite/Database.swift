import CSQLite

/// SQLite's "copy the bytes now" destructor; the C macro does not import.
let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection with a statement cache.
///
/// Not thread-safe by design: it belongs to one actor, which runs it on its own serial queue.
public final class Database {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]

    public init(path: String) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let error = SQLiteError(code: result, extendedCode: result, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open", sql: nil)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        try check(sqlite3_exec(handle, sql, nil, nil, nil), handle, sql: sql)
    }

    /// A prepared statement from the cache, reset and with its bindings cleared.
    public func cached(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = cache[sql] {
            statement.reset()
            return statement
        }
        let statement = try Statement(database: self, sql: sql, persistent: true)
        cache[sql] = statement
        return statement
    }

    /// A statement prepared for one use (its text names something that does not last, such as a
    /// temporary table): not kept in the cache; finalized when released.
    public func prepared(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(database: self, sql: sql, persistent: false)
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    /// True when no transaction is open (also after SQLite rolled one back on its own).
    public var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// A single integer from a query such as a PRAGMA.
    public func integer(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try cached(sql)
        // Reset at once: a statement left mid-read would lock tables against later DDL.
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.int64(0)
    }
}

/// A prepared statement; finalized when released.
public final class Statement {
    let pointer: OpaquePointer
    unowned let database: Database
    public let sql: String

    init(database: Database, sql: String, persistent: Bool) throws(SQLiteError) {
        var pointer: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        try check(sqlite3_prepare_v3(database.handle, sql, -1, flags, &pointer, nil), database.handle, sql: sql)
        guard let pointer else { throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "empty statement", sql: sql) }
        self.pointer = pointer
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(pointer) }

    public func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    // Binding is by 1-based position, as in SQL's `?`.

    @discardableResult
    public func bind(_ index: Int32, _ value: Int64) -> Statement {
        sqlite3_bind_int64(pointer, index, value)
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Int) -> Statement { bind(index, Int64(value)) }

    @discardableResult
    public func bind(_ index: Int32, _ value: String) -> Statement {
        sqlite3_bind_text(pointer, index, value, -1, transientDestructor)
        return self
    }

    /// Text from bytes that are UTF-8 (copied by SQLite).
    @discardableResult
    public func bind(_ index: Int32, utf8 bytes: UnsafeBufferPointer<UInt8>) -> Statement {
        guard let base = bytes.baseAddress else { return bind(index, "") }
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
            _ = sqlite3_bind_text(pointer, index, $0, Int32(bytes.count), transientDestructor)
        }
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: String?) -> Statement {
        if let value { return bind(index, value) }
        sqlite3_bind_null(pointer, index)
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Int64?) -> Statement {
        if let value { return bind(index, value) }
        sqlite3_bind_null(pointer, index)
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Double?) -> Statement {
        if let value {
            sqlite3_bind_double(pointer, index, value)
        } else {
            sqlite3_bind_null(pointer, index)
        }
        return self
    }

    /// Advances: true when a row is available, false when the statement is done.
    public func step() throws(SQLiteError) -> Bool {
        let result = sqlite3_step(pointer)
        if result == SQLITE_ROW { return true }
        if result == SQLITE_DONE { return false }
        let error = SQLiteError(
            code: result & 0xFF, extendedCode: sqlite3_extended_errcode(database.handle),
            message: String(cString: sqlite3_errmsg(database.handle)), sql: sql
        )
        sqlite3_reset(pointer)
        throw error
    }

    /// Runs a statement that returns no rows.
    public func run() throws(SQLiteError) {
        while try step() {}
        sqlite3_reset(pointer)
    }

    /// Calls `row` for each result row.
    public func forEachRow(_ row: (Statement) throws -> Void) throws {
        while try step() { try row(self) }
        sqlite3_reset(pointer)
    }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }
    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(pointer, column)) }
    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }

    public func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(pointer, column) else { return "" }
        let count = Int(sqlite3_column_bytes(pointer, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
    public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    public func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : sqlite3_column_double(pointer, column) }
}
