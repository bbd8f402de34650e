import Foundation
import Protocol
import Runtime
import SQLite

/// Each account's Do-Not-Call list: checked at every begin, and held by every dialer.
extension Store {
    func addDNC(_ request: AddDNC) async throws -> (result: DNCAddResult, added: [String]) {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let insert = try database.cached("INSERT INTO dnc (account, phone_number, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            var added: [String] = []
            for number in request.numbers {
                insert.bind(1, request.account).bind(2, number).bind(3, now)
                try insert.run()
                if database.changes == 1 { added.append(number) }
            }
            return (DNCAddResult(added: added.count, alreadyListed: request.numbers.count - added.count), added)
        }
    }

    func removeDNC(_ request: RemoveDNC) async throws {
        try await mutate {
            try database.cached("DELETE FROM dnc WHERE account = ? AND phone_number = ?").bind(1, request.account).bind(2, request.number).run()
            guard database.changes == 1 else { throw RemoteError(.notFound, "\(request.number) is not on the Do-Not-Call list") }
        }
    }

    func dncSnapshot() throws -> [DNCUpdate] {
        var byAccount: [String: [String]] = [:]
        try database.cached("SELECT account, phone_number FROM dnc").forEachRow { byAccount[$0.string(0), default: []].append($0.string(1)) }
        return byAccount.map { DNCUpdate(account: $0.key, added: $0.value, removed: []) }
    }

    func isListed(account: String, number: String) throws -> Bool {
        let statement = try database.cached("SELECT 1 FROM dnc WHERE account = ? AND phone_number = ?")
        statement.bind(1, account).bind(2, number)
        defer { statement.reset() }
        return try statement.step()
    }
}
