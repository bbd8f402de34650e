import Foundation
import JSON
import Protocol
import Runtime

/// Requests sent with an `Idempotency-Key`. The key is claimed while its request is served (a
/// second request with it is refused, not run alongside), the effect's write records its reply in
/// the same transaction, and a later request with the key gets that reply back for 24 hours.
extension Store {
    struct IdempotencyKey: Hashable {
        let account: String
        let key: String
    }

    enum IdempotencyClaim: Equatable {
        /// The key has a live record: the earlier request's reply, as JSON text.
        case replay(String)
        /// The key is the caller's until it calls `releaseIdempotencyKey`.
        case proceed
    }

    /// Claims `call`'s key, or says why not: the record of an earlier request with it (replayed
    /// if the fingerprints agree), or a request with it still being served.
    func claimIdempotencyKey(_ call: IdempotentCall, now: Int64) throws -> IdempotencyClaim {
        let key = IdempotencyKey(account: call.account, key: call.key)
        // The request in flight first: its record may be written but not yet committed.
        if let fingerprint = idempotencyKeysInFlight[key] {
            guard fingerprint == call.fingerprint else { throw Self.keyReused }
            throw RemoteError(.idempotencyKeyInUse, "a request with this Idempotency-Key is still being served; retry once it has been answered")
        }
        let stored = try database.cached("""
            SELECT fingerprint, reply FROM idempotency_keys WHERE account = ? AND key = ? AND created_at > ?
            """)
        stored.bind(1, call.account).bind(2, call.key).bind(3, now - IdempotentCall.retentionMilliseconds)
        defer { stored.reset() }
        if try stored.step() {
            guard stored.string(0) == call.fingerprint else { throw Self.keyReused }
            return .replay(stored.string(1))
        }
        idempotencyKeysInFlight[key] = call.fingerprint
        return .proceed
    }

    static let keyReused = RemoteError(.idempotencyKeyReused, "this Idempotency-Key was used with a different request (method, path, query or body); use a new key for a new request")

    func releaseIdempotencyKey(account: String, key: String) {
        idempotencyKeysInFlight[IdempotencyKey(account: account, key: key)] = nil
    }

    /// Called inside the write of every effect a key can guard, with the reply it will give: when
    /// the request came with a key, the reply is committed with the effect, or neither is.
    func recordIdempotentReply(_ reply: some Encodable) throws {
        guard let scope = IdempotencyScope.current, !scope.recorded else { return }
        let text = String(decoding: try JSONValueEncoder.encode(reply).serialized(), as: UTF8.self)
        // An expired record of the key (the claim found no live one) makes way.
        try database.cached("DELETE FROM idempotency_keys WHERE account = ? AND key = ?").bind(1, scope.account).bind(2, scope.key).run()
        try database.cached("""
            INSERT INTO idempotency_keys (account, key, fingerprint, effect_type, reply, created_at) VALUES (?, ?, ?, ?, ?, ?)
            """).bind(1, scope.account).bind(2, scope.key).bind(3, scope.fingerprint).bind(4, scope.effectType)
            .bind(5, text).bind(6, scope.claimedAt).run()
        scope.recorded = true
    }

    /// The record of a reply whose write did not record it (an effect that forgot to): later than
    /// the effect, so not atomic with it, but a retry still gets the reply.
    func recordIdempotentReplyAlone(_ reply: some Encodable & Sendable) async throws {
        try await mutate { try recordIdempotentReply(reply) }
    }

    /// Deletes records past their 24 hours, a thousand per write; returns how many went.
    func purgeExpiredIdempotencyKeys(now: Int64) async throws -> Int {
        var purged = 0
        while true {
            let deleted = try await mutate {
                try database.cached("""
                    DELETE FROM idempotency_keys WHERE (account, key) IN
                    (SELECT account, key FROM idempotency_keys WHERE created_at <= ? ORDER BY created_at LIMIT 1000)
                    """).bind(1, now - IdempotentCall.retentionMilliseconds).run()
                return database.changes
            }
            purged += deleted
            if deleted < 1000 { return purged }
        }
    }
}

/// The key a request came with, for the store's writes while the manager serves it.
final class IdempotencyScope: @unchecked Sendable {
    @TaskLocal static var current: IdempotencyScope?

    let account: String
    let key: String
    let fingerprint: String
    let effectType: String
    /// When the key was claimed: its record's age counts from then.
    let claimedAt: Int64
    /// Set by the write that recorded the reply; read after it, in the same task.
    var recorded = false

    init(_ call: IdempotentCall, claimedAt: Int64) {
        self.claimedAt = claimedAt
        account = call.account
        key = call.key
        fingerprint = call.fingerprint
        effectType = call.effectType
    }
}
