import Protocol
import Runtime
import SQLite

/// The numbers each account may call from (its caller IDs). A campaign's `call_from_number` must
/// be one of its account's, when it is set and when the campaign starts: dialing from a number
/// one does not own is caller-ID spoofing, and carriers' attestation rests on owning it.
extension Store {
    func addNumber(_ request: AddNumber) async throws -> AddNumberResult {
        try await mutate {
            let result = try claim(request.phoneNumber, for: request.account, now: Timestamp.nowMilliseconds())
            try recordIdempotentReply(result)
            return result
        }
    }

    /// Seeds operators' numbers (`RYMI_ACCOUNT_NUMBERS`) at start; a number another account holds
    /// is refused.
    func seedNumbers(_ numbers: [(account: String, number: String)]) async throws {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            for (account, number) in numbers { _ = try claim(number, for: account, now: now) }
        }
    }

    private func claim(_ number: String, for account: String, now: Int64) throws -> AddNumberResult {
        let owner = try database.cached("SELECT account, created_at FROM account_numbers WHERE phone_number = ?")
        owner.bind(1, number)
        defer { owner.reset() }
        if try owner.step() {
            guard owner.string(0) == account else { throw RemoteError(.conflict, "\(number) is registered to another account") }
            return AddNumberResult(number: OwnedNumber(phoneNumber: number, createdAt: owner.int64(1)), alreadyOwned: true)
        }
        owner.reset()
        try database.cached("INSERT INTO account_numbers (phone_number, account, created_at) VALUES (?, ?, ?)")
            .bind(1, number).bind(2, account).bind(3, now).run()
        return AddNumberResult(number: OwnedNumber(phoneNumber: number, createdAt: now), alreadyOwned: false)
    }

    func removeNumber(_ request: RemoveNumber) async throws {
        try await mutate {
            try database.cached("DELETE FROM account_numbers WHERE phone_number = ? AND account = ?")
                .bind(1, request.phoneNumber).bind(2, request.account).run()
            guard database.changes == 1 else { throw RemoteError(.notFound, "\(request.phoneNumber) is not one of this account's numbers") }
        }
    }

    /// Throws `number_not_owned` unless `number` is one of `account`'s numbers.
    func requireOwned(_ number: String, by account: String) throws {
        let statement = try database.cached("SELECT 1 FROM account_numbers WHERE phone_number = ? AND account = ?")
        statement.bind(1, number).bind(2, account)
        defer { statement.reset() }
        guard try statement.step() else {
            throw RemoteError(.numberNotOwned, "call_from_number \(number) is not one of this account's numbers; add it with POST /v1/numbers")
        }
    }
}

extension Queries {
    func listNumbers(_ request: ListNumbers) throws -> NumberList {
        var numbers: [OwnedNumber] = []
        try database.cached("SELECT phone_number, created_at FROM account_numbers WHERE account = ? ORDER BY phone_number")
            .bind(1, request.account)
            .forEachRow { numbers.append(OwnedNumber(phoneNumber: $0.string(0), createdAt: $0.int64(1))) }
        return NumberList(numbers: numbers)
    }
}
