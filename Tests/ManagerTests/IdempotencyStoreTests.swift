import Foundation
@testable import Manager
import Protocol
import Runtime
import TestSupport
import Testing

/// The store's side of idempotency keys: claims, records in the effect's write, 24 hours.
@Suite struct IdempotencyStoreTests {
    let store: Store

    init() throws {
        (_, store) = try temporaryStore("rymi-idempotency-tests-")
    }

    func call(_ key: String, fingerprint: Character = "a", account: String = "acme") throws -> IdempotentCall {
        try IdempotentCall(account: account, key: key, fingerprint: String(repeating: fingerprint, count: 64),
                           effect: CreateCampaign(account: account, name: "n", agentID: "a", callFromNumber: nil, defaultCountry: nil))
    }

    /// Creates a campaign under `call`'s key, as the gate does.
    func create(under call: IdempotentCall, at now: Int64) async throws -> CampaignRecord {
        let scope = IdempotencyScope(call, claimedAt: now)
        let record = try await IdempotencyScope.$current.withValue(scope) {
            try await store.createCampaign(CreateCampaign(account: call.account, name: "n", agentID: "a", callFromNumber: nil, defaultCountry: nil))
        }
        #expect(scope.recorded)
        await store.releaseIdempotencyKey(account: call.account, key: call.key)
        return record
    }

    @Test func aClaimedKeyIsInUseUntilReleasedThenItsRecordIsReplayed() async throws {
        let now = Timestamp.nowMilliseconds()
        let first = try call("k")
        #expect(try await store.claimIdempotencyKey(first, now: now) == .proceed)
        await #expect(throws: RemoteError.self) { try await store.claimIdempotencyKey(first, now: now) }
        let record = try await create(under: first, at: now)
        guard case .replay(let reply) = try await store.claimIdempotencyKey(first, now: now) else {
            Issue.record("not replayed")
            return
        }
        #expect(try IdempotentReply(replayed: true, reply: reply).decoded(as: CampaignRecord.self).id == record.id)
        // Another request with the key is refused; another account's key of that name is its own.
        do {
            _ = try await store.claimIdempotencyKey(try call("k", fingerprint: "b"), now: now)
            Issue.record("a different request was not refused")
        } catch let error as RemoteError {
            #expect(error.code == .idempotencyKeyReused)
        }
        #expect(try await store.claimIdempotencyKey(try call("k", account: "globex"), now: now) == .proceed)
    }

    @Test func aRefusedEffectRecordsNothingAndFreesTheKey() async throws {
        let now = Timestamp.nowMilliseconds()
        let first = try call("k")
        #expect(try await store.claimIdempotencyKey(first, now: now) == .proceed)
        let scope = IdempotencyScope(first, claimedAt: now)
        await #expect(throws: RemoteError.self) {
            try await IdempotencyScope.$current.withValue(scope) {
                _ = try await store.pauseCampaign(PauseCampaign(account: "acme", campaignID: "cmp_missing"))
            }
        }
        #expect(!scope.recorded)
        await store.releaseIdempotencyKey(account: "acme", key: "k")
        #expect(try await store.claimIdempotencyKey(first, now: now) == .proceed)
    }

    @Test func aRecordAnswersFor24HoursAndIsThenPurged() async throws {
        let now = Timestamp.nowMilliseconds()
        let first = try call("k")
        #expect(try await store.claimIdempotencyKey(first, now: now) == .proceed)
        _ = try await create(under: first, at: now)
        let day = IdempotentCall.retentionMilliseconds
        #expect(try await store.purgeExpiredIdempotencyKeys(now: now + day - 60_000) == 0)
        if case .proceed = try await store.claimIdempotencyKey(first, now: now + day - 60_000) { Issue.record("expired early") }
        // Past its day the key is new again, even before the purge: the new record replaces the old.
        #expect(try await store.claimIdempotencyKey(first, now: now + day + 60_000) == .proceed)
        _ = try await create(under: first, at: now + day + 60_000)
        #expect(try await store.purgeExpiredIdempotencyKeys(now: now + day + 60_000) == 0)
        #expect(try await store.purgeExpiredIdempotencyKeys(now: now + 2 * day + 60_000) == 1)
        #expect(try await store.claimIdempotencyKey(first, now: now + 2 * day + 60_000) == .proceed)
    }
}
