import Foundation
@testable import Manager
import Protocol
import Runtime
import TestSupport
import Testing

/// The outbox as the sender reads it: what is due, to whom, and in which order.
@Suite struct OutboxTests {
    let directory: String
    let store: Store
    let reader: Reader

    init() throws {
        (directory, store) = try temporaryStore("rymi-outbox-tests-")
        reader = try Reader(path: directory + "/rymi.sqlite")
    }

    /// An endpoint of `account`; returns its seq.
    func endpoint(_ account: String = "acme") async throws -> Int64 {
        let endpoint = try await store.addWebhook(AddWebhook(account: account, url: "http://127.0.0.1:9/\(account)", events: []))
        return try await store.seqOfWebhook(account: account, id: endpoint.id)
    }

    /// Writes events of `key` (a contact), committed, at `now`.
    func emit(_ types: [String], key: String, account: String = "acme", now: Int64) async throws {
        try await store.emitAll(types, account: account, key: key, now: now)
    }

    func due(now: Int64, free: Int = 100, perEndpoint: Int = 16, held: [Int64: Set<Int64>] = [:], after: Int64 = 0) async throws -> [DueDelivery] {
        try await reader.read { try $0.dueDeliveries(now: now, free: free, perEndpoint: perEndpoint, held: held, after: after) }
    }

    @Test func onlyTheFirstPendingEventOfAContactIsDueAndHeldOnesAreNotReadAgain() async throws {
        _ = try await endpoint()
        try await emit(["contact.dialed", "contact.answered", "contact.completed"], key: "ct_1", now: 1000)
        try await emit(["contact.dialed"], key: "ct_2", now: 1000)
        let first = try await due(now: 2000)
        #expect(first.map(\.orderingKey) == ["ct_1", "ct_2"])
        // Held by the sender (queued, in flight or settling): neither it nor what follows it comes again.
        let webhook = first[0].webhook
        #expect(try await due(now: 2000, held: [webhook: [first[0].event]]).map(\.orderingKey) == ["ct_2"])
        try await store.recordDeliveries([(first[0], .delivered(status: 200, latency: 1))])
        let next = try await due(now: 2000, held: [webhook: [first[1].event]])
        #expect(next.count == 1 && next[0].orderingKey == "ct_1")
        #expect(String(decoding: next[0].body, as: UTF8.self).contains(#""type":"contact.answered""#))
    }

    @Test func aRetryHoldsBackTheContactsLaterEventsAndThoseWrittenMeanwhile() async throws {
        _ = try await endpoint()
        try await emit(["contact.dialed", "contact.answered"], key: "ct_1", now: 1000)
        let head = try #require(try await due(now: 1000).first)
        try await store.recordDeliveries([(head, .notDelivered(status: 503, latency: 1, error: "HTTP 503", retryAt: 60_000))])
        // Nothing of ct_1 is due before the retry, not even an event written after the failure.
        try await emit(["contact.completed"], key: "ct_1", now: 2000)
        try await emit(["contact.dialed"], key: "ct_2", now: 2000)
        #expect(try await due(now: 59_999).map(\.orderingKey) == ["ct_2"])
        let pending = try await reader.read { queries in
            var times: [Int64] = []
            try queries.database.cached("SELECT next_attempt_at FROM webhook_deliveries WHERE ordering_key = 'ct_1' AND status = 'pending' ORDER BY event_seq")
                .forEachRow { times.append($0.int64(0)) }
            return times
        }
        #expect(pending == [60_000, 60_000, 60_000])
        // At the retry the head comes first, and once it is delivered the rest follow in order.
        let retried = try await due(now: 60_000).filter { $0.orderingKey == "ct_1" }
        #expect(retried.map(\.event) == [head.event])
        try await store.recordDeliveries([(retried[0], .delivered(status: 200, latency: 1))])
        let answered = try await due(now: 60_000).filter { $0.orderingKey == "ct_1" }
        #expect(answered.count == 1 && String(decoding: answered[0].body, as: UTF8.self).contains("contact.answered"))
    }

    @Test func eachEndpointGetsAtMostTwiceItsConcurrencyAndTakesItsTurn() async throws {
        let first = try await endpoint("acme")
        let second = try await endpoint("globex")
        for contact in 0..<40 {
            try await emit(["contact.dialed"], key: "ct_\(contact)", account: "acme", now: 1000)
            try await emit(["contact.dialed"], key: "ct_\(contact)", account: "globex", now: 1000)
        }
        let all = try await due(now: 2000, free: 100, perEndpoint: 4)
        #expect(all.filter { $0.webhook == first }.count == 8 && all.filter { $0.webhook == second }.count == 8)
        // Three already held: five more. Short of room, the endpoint after `after` goes first.
        let held = Set(all.filter { $0.webhook == first }.prefix(3).map(\.event))
        #expect(try await due(now: 2000, free: 100, perEndpoint: 4, held: [first: held]).filter { $0.webhook == first }.count == 5)
        #expect(Set(try await due(now: 2000, free: 3, perEndpoint: 4, after: first).map(\.webhook)) == [second])
        #expect(Set(try await due(now: 2000, free: 3, perEndpoint: 4, after: second).map(\.webhook)) == [first])
    }

    /// A cancel marks its contacts with one bulk event; their events are written after it, a
    /// chunk per transaction with its cursor, so a restart between chunks neither loses nor
    /// repeats one.
    @Test func aBulkCancelsEventsAreWrittenAfterItInChunksAcrossARestart() async throws {
        _ = try await endpoint()
        try await store.seedNumbers([("acme", "14155550100")])
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "agent", callFromNumber: "14155550100",
                                                                     timezone: middayZone))
        let contacts = (0..<5).map { NewContact(phoneNumber: "1555123\(String(format: "%04d", $0))", variables: "{}") }
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: contacts))
        _ = try await store.startCampaign(StartCampaign(account: "acme", campaignID: campaign.id))
        _ = try await store.cancelCampaign(CancelCampaign(account: "acme", campaignID: campaign.id))
        func events() async throws -> [(type: String, body: String, createdAt: Int64)] {
            try await reader.read { queries in
                var rows: [(String, String, Int64)] = []
                try queries.database.cached("SELECT type, body, created_at FROM webhook_events WHERE type LIKE 'contact.%' ORDER BY seq")
                    .forEachRow { rows.append(($0.string(0), $0.string(1), $0.int64(2))) }
                return rows
            }
        }
        // The cancel itself wrote none of them.
        #expect(try await events().isEmpty)
        #expect(try await store.expandBulkEvents(limit: 2))
        #expect(try await events().count == 2)
        // Another process's store, as after a restart: it goes on from the cursor.
        let restarted = try Store(path: directory + "/rymi.sqlite")
        var chunks = 0
        while try await restarted.expandBulkEvents(limit: 2) { chunks += 1 }
        let written = try await events()
        #expect(chunks == 2 && written.count == 5 && written.allSatisfy { $0.type == "contact.canceled" && $0.body.contains(#""status":"canceled""#) })
        let canceledAt = try await reader.read { try $0.database.integer("SELECT updated_at FROM contacts LIMIT 1") }
        #expect(Set(written.map(\.createdAt)) == [canceledAt])
        let ids = written.compactMap { event in event.body.range(of: #""id":"ct_[0-9]+""#, options: .regularExpression).map { String(event.body[$0]) } }
        #expect(Set(ids).count == 5)
    }

    @Test func eventIDsAreVersion7UUIDsThatSortByTime() {
        let earlier = Store.newEventID(now: 1_700_000_000_000), later = Store.newEventID(now: 1_700_000_000_001)
        #expect(earlier.count == 40 && earlier.hasPrefix("evt_") && earlier < later)
        let uuid = earlier.dropFirst(4)
        #expect(UUID(uuidString: String(uuid)) != nil && uuid.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        #expect(uuid.dropFirst(14).first == "7" && "89ab".contains(uuid.dropFirst(19).first ?? "x"))
        #expect(Store.newEventID(now: 5) != Store.newEventID(now: 5))
    }
}

extension Store {
    func seqOfWebhook(account: String, id: String) throws -> Int64 { try webhookSeq(account: account, id: id) }

    func emitAll(_ types: [String], account: String, key: String, now: Int64) async throws {
        try await mutate {
            for type in types { try emit(type, account: account, orderingKey: key, now: now) { .object([("key", .string(key))]) } }
        }
    }
}
