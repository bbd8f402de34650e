import Foundation
import SQLite
import Testing

func temporaryDatabasePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-sqlite-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("test.sqlite").path
}

@Suite struct DatabaseTests {
    @Test func writesAndReadsThroughCachedStatements() throws {
        let database = try Database(path: temporaryDatabasePath())
        try database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
        for index in 0..<3 {
            try database.cached("INSERT INTO t (name, note) VALUES (?, ?)").bind(1, "row'\(index)").bind(2, index == 1 ? nil : "n" as String?).run()
        }
        var rows: [(String, String?)] = []
        try database.cached("SELECT name, note FROM t ORDER BY id").forEachRow { rows.append(($0.string(0), $0.optionalString(1))) }
        #expect(rows.map(\.0) == ["row'0", "row'1", "row'2"])
        #expect(rows.map(\.1) == ["n", nil, "n"])
        #expect(try database.integer("SELECT count(*) FROM t") == 3)
    }

    @Test func rollsBackWhenTheBodyThrows() throws {
        struct Stop: Error {}
        let database = try Database(path: temporaryDatabasePath())
        try database.execute("CREATE TABLE t (v INTEGER)")
        #expect(throws: Stop.self) {
            try database.transaction {
                try database.cached("INSERT INTO t VALUES (1)").run()
                throw Stop()
            }
        }
        #expect(try database.integer("SELECT count(*) FROM t") == 0)
    }

    @Test func reportsConstraintViolationsTyped() throws {
        let database = try Database(path: temporaryDatabasePath())
        try database.execute("CREATE TABLE t (v INTEGER UNIQUE)")
        try database.cached("INSERT INTO t VALUES (1)").run()
        do {
            try database.cached("INSERT INTO t VALUES (1)").run()
            Issue.record("expected a constraint error")
        } catch {
            #expect(error.isConstraint)
            #expect(error.sql == "INSERT INTO t VALUES (1)")
        }
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let path = temporaryDatabasePath()
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let database = try Database(path: path)
        do {
            try database.execute("SELECT * FROM sqlite_master")
            Issue.record("expected an error")
        } catch {
            #expect(error.isCorrupt)
        }
    }
}
