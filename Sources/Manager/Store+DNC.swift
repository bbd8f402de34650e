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
            try moveDNCVersion(request.account, entries: added.count)
            let result = DNCAddResult(added: added.count, alreadyListed: request.numbers.count - added.count)
            try recordIdempotentReply(result)
            return (result, added)
        }
    }

    /// Lists the contact's number for its account as an opt-out; an entry already there is kept.
    func optOut(_ request: OptOutContact) async throws -> OptOutResult {
        try await mutate {
            let (campaignSeq, _) = try queries.campaignRow(account: request.account, id: request.campaignID)
            let lookup = try database.cached("SELECT phone_number FROM contacts WHERE seq = ? AND campaign_seq = ?")
            lookup.bind(1, ContactID.parse(request.contactID) ?? 0).bind(2, campaignSeq)
            guard try lookup.step() else {
                lookup.reset()
                throw RemoteError(.notFound, "contact \(request.contactID) not found")
            }
            let number = lookup.string(0)
            lookup.reset()
            let now = Timestamp.nowMilliseconds()
            try database.cached("""
                INSERT INTO dnc (account, phone_number, created_at, source, contact_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """).bind(1, request.account).bind(2, number).bind(3, now).bind(4, DNCEntry.optOut).bind(5, request.contactID).run()
            let added = database.changes == 1
            if added { try moveDNCVersion(request.account, entries: 1) }
            if let contact = ContactID.parse(request.contactID) { note(.contact("contact.opted_out", contact: contact, campaign: campaignSeq)) }
            let entry = try database.cached("SELECT created_at, source, contact_id FROM dnc WHERE account = ? AND phone_number = ?")
            entry.bind(1, request.account).bind(2, number)
            defer { entry.reset() }
            _ = try entry.step()
            let result = OptOutResult(entry: DNCEntry(phoneNumber: number, createdAt: entry.int64(0), source: entry.string(1), contactID: entry.optionalString(2)),
                                      alreadyListed: !added)
            try recordIdempotentReply(result)
            return result
        }
    }

    func removeDNC(_ request: RemoveDNC) async throws {
        try await mutate {
            try database.cached("DELETE FROM dnc WHERE account = ? AND phone_number = ?").bind(1, request.account).bind(2, request.number).run()
            guard database.changes == 1 else { throw RemoteError(.notFound, "\(request.number) is not on the Do-Not-Call list") }
            try moveDNCVersion(request.account, entries: -1)
        }
    }

    /// Every change to an account's list moves its version (recorded with each call's go-ahead).
    func moveDNCVersion(_ account: String, entries: Int) throws {
        guard entries != 0 else { return }
        try database.cached("""
            INSERT INTO dnc_versions (account, version, entries) VALUES (?1, 1, ?2)
            ON CONFLICT (account) DO UPDATE SET version = version + 1, entries = entries + ?2
            """).bind(1, account).bind(2, entries).run()
    }

    /// The account's list as a call's go-ahead sees it: its version and size.
    func dncVersion(_ account: String) throws -> (version: Int64, entries: Int64) {
        let statement = try database.cached("SELECT version, entries FROM dnc_versions WHERE account = ?")
        statement.bind(1, account)
        defer { statement.reset() }
        guard try statement.step() else { return (0, 0) }
        return (statement.int64(0), statement.int64(1))
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
