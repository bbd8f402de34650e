import CSQLite

/// An SQLite failure: the result code, SQLite's message, and the statement when there was one.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let extendedCode: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        let statement = sql.map { " in `\($0)`" } ?? ""
        return "SQLite error \(extendedCode): \(message)\(statement)"
    }

    /// The disk or the database's size limit is full: writes fail until space returns.
    public var isFull: Bool { code == SQLITE_FULL || code == SQLITE_IOERR && extendedCode == 13 << 8 | SQLITE_IOERR }
    /// The file is not a database we can read.
    public var isCorrupt: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }
}

func check(_ result: Int32, _ connection: OpaquePointer?, sql: String? = nil) throws(SQLiteError) {
    guard result != SQLITE_OK, result != SQLITE_ROW, result != SQLITE_DONE else { return }
    let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result))
    let extended = connection.map { sqlite3_extended_errcode($0) } ?? result
    throw SQLiteError(code: result & 0xFF, extendedCode: extended, message: message, sql: sql)
}
