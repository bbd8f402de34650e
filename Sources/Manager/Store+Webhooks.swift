import Crypto
import Foundation
import JSON
import Protocol
import Resources
import Runtime
import SQLite

/// Webhook endpoints, and the outbox: every event is written in the transaction of the change
/// that causes it, with one delivery per endpoint that takes it, so none is lost on a crash and
/// none is sent for a change that rolled back (the sender reads committed rows only).
extension Store {
    // MARK: Endpoints

    func addWebhook(_ request: AddWebhook) async throws -> WebhookEndpoint {
        try await mutate {
            let count = try database.cached("SELECT count(*) FROM webhooks WHERE account = ?")
            count.bind(1, request.account)
            let existing = try count.step() ? count.int(0) : 0
            count.reset()
            guard existing < Self.maxWebhooksPerAccount else {
                throw RemoteError(.invalid, "url: an account may have at most \(Self.maxWebhooksPerAccount) webhook endpoints")
            }
            let endpoint = WebhookEndpoint(id: "wh_" + UUID().uuidString.lowercased(), url: request.url, events: request.events,
                                           createdAt: Timestamp.nowMilliseconds(), secret: Self.newSecret())
            try database.cached("INSERT INTO webhooks (id, account, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(1, endpoint.id).bind(2, request.account).bind(3, endpoint.url).bind(4, endpoint.events.joined(separator: ","))
                .bind(5, endpoint.secret).bind(6, endpoint.createdAt).run()
            webhookSubscribers = nil
            try recordIdempotentReply(endpoint)
            return endpoint
        }
    }

    static let maxWebhooksPerAccount = 20

    /// `whsec_` and 32 random bytes in hex: the HMAC key is this whole string, as UTF-8.
    static func newSecret() -> String {
        "whsec_" + RandomBytes.hex(32)
    }

    func removeWebhook(_ request: RemoveWebhook) async throws {
        try await mutate {
            let seq = try webhookSeq(account: request.account, id: request.webhookID)
            try database.cached("DELETE FROM webhook_deliveries WHERE webhook_seq = ?").bind(1, seq).run()
            try database.cached("DELETE FROM webhooks WHERE seq = ?").bind(1, seq).run()
            webhookSubscribers = nil
        }
    }

    /// A new secret; deliveries carry signatures by both for 24 hours.
    func rotateWebhookSecret(_ request: RotateWebhookSecret) async throws -> WebhookEndpoint {
        try await mutate {
            let seq = try webhookSeq(account: request.account, id: request.webhookID)
            let secret = Self.newSecret()
            try database.cached("""
                UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?, secret = ? WHERE seq = ?
                """).bind(1, Timestamp.nowMilliseconds() + Self.secretOverlapMilliseconds).bind(2, secret).bind(3, seq).run()
            var endpoint = try queries.webhook(seq: seq)
            endpoint.secret = secret
            try recordIdempotentReply(endpoint)
            return endpoint
        }
    }

    static let secretOverlapMilliseconds: Int64 = 24 * 3_600_000

    func webhookSeq(account: String, id: String) throws -> Int64 {
        let statement = try database.cached("SELECT seq FROM webhooks WHERE account = ? AND id = ?")
        statement.bind(1, account).bind(2, id)
        defer { statement.reset() }
        guard try statement.step() else { throw RemoteError(.notFound, "webhook \(id) not found") }
        return statement.int64(0)
    }

    /// Sends an event to an endpoint again, now: its delivery is pending again with its
    /// attempts kept, ahead of nothing (it still waits for earlier events of its contact).
    func redeliver(_ request: Redeliver) async throws -> WebhookDelivery {
        try await mutate {
            let seq = try webhookSeq(account: request.account, id: request.webhookID)
            let now = Timestamp.nowMilliseconds()
            try database.cached("""
                UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?1, delivered_at = NULL
                WHERE webhook_seq = ?2 AND event_seq = (SELECT seq FROM webhook_events WHERE id = ?3 AND account = ?4)
                """).bind(1, now).bind(2, seq).bind(3, request.eventID).bind(4, request.account).run()
            guard database.changes == 1 else { throw RemoteError(.notFound, "event \(request.eventID) was not for webhook \(request.webhookID)") }
            let redelivered = try database.cached("""
                SELECT d.event_seq, d.ordering_key FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq
                WHERE d.webhook_seq = ? AND e.id = ?
                """)
            redelivered.bind(1, seq).bind(2, request.eventID)
            if try redelivered.step() {
                let (event, key) = (redelivered.int64(0), redelivered.string(1))
                redelivered.reset()
                try holdBack(webhook: seq, orderingKey: key, after: event, until: now)
            } else {
                redelivered.reset()
            }
            try database.cached("UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL WHERE seq = ?").bind(1, seq).run()
            outboxWritten = true
            guard let delivery = try queries.deliveries(webhook: seq, status: nil, limit: 1, before: nil, eventID: request.eventID).first?.delivery else {
                throw RemoteError(.notFound, "event \(request.eventID) not found")
            }
            try recordIdempotentReply(delivery)
            return delivery
        }
    }

    // MARK: Writing events

    /// The endpoints of `account` that take events of `type`.
    private func subscribers(_ account: String, _ type: String) throws -> [Int64] {
        if webhookSubscribers == nil {
            var all: [String: [(seq: Int64, events: Set<String>)]] = [:]
            try database.cached("SELECT seq, account, events FROM webhooks WHERE disabled_at IS NULL").forEachRow { row in
                let events = Set(row.string(2).split(separator: ",").map(String.init))
                all[row.string(1), default: []].append((row.int64(0), events))
            }
            webhookSubscribers = all
        }
        return (webhookSubscribers?[account] ?? []).filter { $0.events.isEmpty || $0.events.contains(type) }.map(\.seq)
    }

    /// A campaign's public id, which never changes either.
    func campaignID(_ campaign: Int64) throws -> String {
        if let id = campaignIDs[campaign] { return id }
        let id = try queries.campaignID(seq: campaign)
        campaignIDs[campaign] = id
        return id
    }

    func account(ofCampaign campaign: Int64) throws -> String {
        if let account = campaignAccounts[campaign] { return account }
        let statement = try database.cached("SELECT account FROM campaigns WHERE seq = ?")
        statement.bind(1, campaign)
        defer { statement.reset() }
        let account = try statement.step() ? statement.string(0) : ""
        campaignAccounts[campaign] = account
        return account
    }

    /// Writes an event for every endpoint of `account` that takes `type`; `data` (the resource as
    /// the API renders it) is read only when some endpoint does.
    func emit(_ type: String, account: String, orderingKey: String, now: Int64, data: () throws -> JSONValue) throws {
        let endpoints = try subscribers(account, type)
        guard !endpoints.isEmpty else { return }
        let id = Self.newEventID(now: now)
        let body = JSONValue.object([
            ("id", .string(id)), ("type", .string(type)), ("created_at", Render.time(now)), ("account", .string(account)), ("data", try data()),
        ]).jsonText
        try database.cached("INSERT INTO webhook_events (id, account, type, created_at, body) VALUES (?, ?, ?, ?, ?)")
            .bind(1, id).bind(2, account).bind(3, type).bind(4, now).bind(5, body).run()
        let event = database.lastInsertRowID
        for endpoint in endpoints {
            // Due no earlier than an earlier pending event of its contact (one waiting for a retry):
            // so what is due is ready to send, not blocked behind an earlier event.
            try database.cached("""
                INSERT INTO webhook_deliveries (webhook_seq, event_seq, ordering_key, status, next_attempt_at)
                VALUES (?1, ?2, ?3, 'pending', max(?4, coalesce((SELECT max(next_attempt_at) FROM webhook_deliveries INDEXED BY webhook_deliveries_by_key
                                                                 WHERE webhook_seq = ?1 AND ordering_key = ?3 AND status = 'pending'), 0)))
                """).bind(1, endpoint).bind(2, event).bind(3, orderingKey).bind(4, now).run()
        }
        outboxWritten = true
    }

    /// `evt_` and a UUID of version 7: its first 48 bits are the time in milliseconds, so new ids
    /// land at the end of the id index rather than all over it; the remaining 74 bits are random.
    static func newEventID(now: Int64) -> String {
        var bytes = RandomBytes.make(16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: now >> (8 * (5 - index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = Hex.encode(bytes)
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return "evt_" + parts.joined(separator: "-")
    }

    /// Keeps the pending events of a contact after `event` from coming due before `time`: they
    /// wait for it anyway, and the sender then never reads them as due while blocked.
    func holdBack(webhook: Int64, orderingKey: String, after event: Int64, until time: Int64) throws {
        try database.cached("""
            UPDATE webhook_deliveries INDEXED BY webhook_deliveries_by_key SET next_attempt_at = ?4
            WHERE webhook_seq = ?1 AND ordering_key = ?2 AND status = 'pending' AND event_seq > ?3 AND next_attempt_at < ?4
            """).bind(1, webhook).bind(2, orderingKey).bind(3, event).bind(4, time).run()
    }

    /// A contact's event, with the contact as `GET …/contacts/:id` shows it (attempts included).
    func emitContact(_ type: String, contact: Int64, campaign: Int64, now: Int64) throws {
        let account = try account(ofCampaign: campaign)
        try emit(type, account: account, orderingKey: ContactID.format(contact), now: now) {
            let record = try queries.contact(seq: contact, campaign: campaign, campaignID: try campaignID(campaign))
            return Render.contact(record, attempts: true)
        }
    }

    /// A campaign's event, with the campaign as `GET /v1/campaigns/:id` shows it.
    func emitCampaign(_ type: String, campaign: Int64, now: Int64) throws {
        let account = try account(ofCampaign: campaign)
        try emit(type, account: account, orderingKey: "campaign:\(campaign)", now: now) {
            Render.campaign(try queries.campaign(GetCampaign(account: account, campaignID: try queries.campaignID(seq: campaign))))
        }
    }

    /// The event a contact's status change is, if any.
    static func eventType(from: ContactStatus, to: ContactStatus, redial: Bool) -> String? {
        if redial { return "contact.retry_scheduled" }
        guard from != to else { return nil }
        switch to {
        case .dialed: return "contact.dialed"
        case .completed, .failed, .skippedDNC, .canceled, .expired: return "contact." + to.rawValue
        case .pending: return nil
        }
    }

    /// Notes an event of the write under way: written when the write is done, with the resource
    /// as it is then.
    func note(_ event: PendingEvent) { pendingEvents.append(event) }

    func writePendingEvents() throws {
        guard !pendingEvents.isEmpty else { return }
        let events = pendingEvents
        pendingEvents = []
        let now = Timestamp.nowMilliseconds()
        for event in events {
            switch event {
            case .contact(let type, let contact, let campaign): try emitContact(type, contact: contact, campaign: campaign, now: now)
            case .campaign(let type, let campaign): try emitCampaign(type, campaign: campaign, now: now)
            }
        }
    }

    /// Runs `update`, a change of many contacts of `campaign` at once to the final `status` (a
    /// cancel, an end, a start's DNC skips) that marks them with the bulk event it is given (nil
    /// when no endpoint takes their event); returns how many it changed.
    ///
    /// Writing each contact's event in the change would hold the writer for seconds for a large
    /// campaign; their events are written after the commit instead (`expandBulkEvents`), each
    /// with the change's time, and a final contact renders then as it was at the change.
    func changingContacts(to status: ContactStatus, campaign: Int64, now: Int64, _ update: (Int64?) throws -> Void) throws -> Int {
        let type = "contact." + status.rawValue
        guard try !subscribers(account(ofCampaign: campaign), type).isEmpty else {
            try update(nil)
            return database.changes
        }
        try database.cached("INSERT INTO webhook_bulk_events (campaign_seq, type, status, created_at) VALUES (?, ?, ?, ?)")
            .bind(1, campaign).bind(2, type).bind(3, status.rawValue).bind(4, now).run()
        let batch = database.lastInsertRowID
        try update(batch)
        let changed = database.changes
        if changed == 0 {
            try database.cached("DELETE FROM webhook_bulk_events WHERE seq = ?").bind(1, batch).run()
        } else {
            bulkEventsWritten = true
        }
        return changed
    }

    /// Writes the events of up to `limit` contacts of the oldest bulk event, with its cursor, in
    /// one transaction (so a crash neither loses nor repeats any); false when none is left.
    func expandBulkEvents(limit: Int) async throws -> Bool {
        try await mutate {
            let bulk = try database.cached("SELECT seq, campaign_seq, type, status, created_at, next_contact FROM webhook_bulk_events ORDER BY seq LIMIT 1")
            guard try bulk.step() else {
                bulk.reset()
                return false
            }
            let (seq, campaign, type, status, createdAt, next) = (bulk.int64(0), bulk.int64(1), bulk.string(2), bulk.string(3), bulk.int64(4), bulk.int64(5))
            bulk.reset()
            var contacts: [Int64] = []
            try database.cached("""
                SELECT seq FROM contacts INDEXED BY contacts_by_campaign_status
                WHERE campaign_seq = ?1 AND status = ?2 AND seq >= ?3 AND event_batch = ?4 ORDER BY seq LIMIT ?5
                """).bind(1, campaign).bind(2, status).bind(3, next).bind(4, seq).bind(5, limit).forEachRow { contacts.append($0.int64(0)) }
            for contact in contacts { try emitContact(type, contact: contact, campaign: campaign, now: createdAt) }
            if contacts.count < limit {
                try database.cached("DELETE FROM webhook_bulk_events WHERE seq = ?").bind(1, seq).run()
            } else {
                try database.cached("UPDATE webhook_bulk_events SET next_contact = ? WHERE seq = ?").bind(1, contacts[contacts.count - 1] + 1).bind(2, seq).run()
            }
            return true
        }
    }

    // MARK: The sender's side

    /// How a delivery went, as the sender records it.
    enum DeliveryResult {
        case delivered(status: Int, latency: Int)
        /// Tried again at `retryAt`, or failed for good when nil.
        case notDelivered(status: Int?, latency: Int, error: String, retryAt: Int64?)
    }

    /// Many deliveries' outcomes, in one write.
    func recordDeliveries(_ outcomes: [(delivery: DueDelivery, result: DeliveryResult)]) async throws {
        try await mutate {
            for outcome in outcomes {
                try record(webhook: outcome.delivery.webhook, event: outcome.delivery.event, orderingKey: outcome.delivery.orderingKey, outcome.result)
            }
        }
    }

    private func record(webhook: Int64, event: Int64, orderingKey: String, _ result: DeliveryResult) throws {
        do {
            let now = Timestamp.nowMilliseconds()
            switch result {
            case .delivered(let status, let latency):
                try database.cached("""
                    UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = ?, last_latency_ms = ?,
                    last_error = NULL, last_attempt_at = ?, delivered_at = ?, next_attempt_at = NULL WHERE webhook_seq = ? AND event_seq = ?
                    """).bind(1, status).bind(2, latency).bind(3, now).bind(4, now).bind(5, webhook).bind(6, event).run()
                try database.cached("UPDATE webhooks SET failing_since = NULL WHERE seq = ? AND failing_since IS NOT NULL").bind(1, webhook).run()
            case .notDelivered(let status, let latency, let error, let retryAt):
                try database.cached("""
                    UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_status = ?, last_latency_ms = ?, last_error = ?,
                    last_attempt_at = ?, next_attempt_at = ? WHERE webhook_seq = ? AND event_seq = ?
                    """).bind(1, retryAt == nil ? "failed" : "pending").bind(2, status.map(Int64.init)).bind(3, latency).bind(4, error)
                    .bind(5, now).bind(6, retryAt).bind(7, webhook).bind(8, event).run()
                if let retryAt { try holdBack(webhook: webhook, orderingKey: orderingKey, after: event, until: retryAt) }
                try database.cached("UPDATE webhooks SET failing_since = coalesce(failing_since, ?) WHERE seq = ?").bind(1, now).bind(2, webhook).run()
                // An endpoint failing for a whole day is disabled: its deliveries stop being tried.
                try database.cached("""
                    UPDATE webhooks SET disabled_at = ?1, disabled_reason = ?2 WHERE seq = ?3 AND disabled_at IS NULL AND failing_since <= ?1 - ?4
                    """).bind(1, now).bind(2, "failing for 24 hours: last error \(error)").bind(3, webhook)
                    .bind(4, Self.secretOverlapMilliseconds).run()
                if database.changes == 1 {
                    webhookSubscribers = nil
                    try database.cached("""
                        UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = 'endpoint disabled'
                        WHERE webhook_seq = ? AND status = 'pending'
                        """).bind(1, webhook).run()
                }
            }
        }
    }
}

/// An event of a write under way.
enum PendingEvent {
    case contact(String, contact: Int64, campaign: Int64)
    case campaign(String, campaign: Int64)
}

/// A delivery due now, with what sending it needs.
struct DueDelivery: Sendable {
    let webhook: Int64
    let event: Int64
    let orderingKey: String
    let eventID: String
    let url: String
    let secret: String
    /// The previous secret, while a rotation's 24 hours run.
    let previousSecret: String?
    let body: [UInt8]
    let attempts: Int
    let eventCreatedAt: Int64
}

extension Queries {
    func webhook(seq: Int64) throws -> WebhookEndpoint {
        let statement = try database.cached("SELECT id, url, events, created_at, disabled_at, disabled_reason FROM webhooks WHERE seq = ?")
        statement.bind(1, seq)
        defer { statement.reset() }
        guard try statement.step() else { throw RemoteError(.notFound, "webhook not found") }
        return Self.webhook(statement)
    }

    static func webhook(_ row: Statement) -> WebhookEndpoint {
        WebhookEndpoint(id: row.string(0), url: row.string(1), events: row.string(2).split(separator: ",").map(String.init),
                        createdAt: row.int64(3), disabledAt: row.optionalInt64(4), disabledReason: row.optionalString(5))
    }

    func listWebhooks(_ request: ListWebhooks) throws -> WebhookList {
        var endpoints: [WebhookEndpoint] = []
        try database.cached("SELECT id, url, events, created_at, disabled_at, disabled_reason FROM webhooks WHERE account = ? ORDER BY seq")
            .bind(1, request.account).forEachRow { endpoints.append(Self.webhook($0)) }
        return WebhookList(webhooks: endpoints)
    }

    func campaignID(seq: Int64) throws -> String {
        let statement = try database.cached("SELECT id FROM campaigns WHERE seq = ?")
        statement.bind(1, seq)
        defer { statement.reset() }
        guard try statement.step() else { throw RemoteError(.notFound, "campaign not found") }
        return statement.string(0)
    }

    func listDeliveries(_ request: ListDeliveries) throws -> DeliveryPage {
        let statement = try database.cached("SELECT seq FROM webhooks WHERE account = ? AND id = ?")
        statement.bind(1, request.account).bind(2, request.webhookID)
        guard try statement.step() else {
            statement.reset()
            throw RemoteError(.notFound, "webhook \(request.webhookID) not found")
        }
        let seq = statement.int64(0)
        statement.reset()
        let rows = try deliveries(webhook: seq, status: request.status, limit: request.limit + 1, before: request.before, eventID: nil)
        let page = Array(rows.prefix(request.limit))
        return DeliveryPage(deliveries: page.map(\.delivery), nextBefore: rows.count > request.limit ? page.last?.eventSeq : nil)
    }

    /// Newest first.
    func deliveries(webhook: Int64, status: String?, limit: Int, before: Int64?, eventID: String?) throws -> [(delivery: WebhookDelivery, eventSeq: Int64)] {
        var rows: [(delivery: WebhookDelivery, eventSeq: Int64)] = []
        try database.cached("""
            SELECT e.id, e.type, d.status, d.attempts, d.last_status, d.last_latency_ms, d.last_error, d.last_attempt_at, d.next_attempt_at,
            d.delivered_at, e.created_at, e.seq FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq
            WHERE d.webhook_seq = ?1 AND (?2 IS NULL OR d.status = ?2) AND d.event_seq < ?3 AND (?4 IS NULL OR e.id = ?4)
            ORDER BY d.event_seq DESC LIMIT ?5
            """).bind(1, webhook).bind(2, status).bind(3, before ?? .max).bind(4, eventID).bind(5, limit).forEachRow { row in
                rows.append((WebhookDelivery(
                    eventID: row.string(0), eventType: row.string(1), status: row.string(2), attempts: row.int(3),
                    lastStatusCode: row.optionalInt64(4).map(Int.init), lastLatencyMilliseconds: row.optionalInt64(5).map(Int.init),
                    lastError: row.optionalString(6), lastAttemptAt: row.optionalInt64(7), nextAttemptAt: row.optionalInt64(8),
                    deliveredAt: row.optionalInt64(9), createdAt: row.int64(10)), row.int64(11)))
            }
        return rows
    }

    /// Deliveries to send now: at most `free` in all and twice `perEndpoint` to an endpoint counting
    /// those `held` by the sender (which are not read again), each endpoint's due longest first, starting
    /// with the endpoint after `after` (so each has its turn when `free` runs short). Each is the
    /// earliest still pending of its endpoint and ordering key, so the events of a contact reach
    /// an endpoint in order. Disabled endpoints send nothing.
    func dueDeliveries(now: Int64, free: Int, perEndpoint: Int, held: [Int64: Set<Int64>], after: Int64) throws -> [DueDelivery] {
        var endpoints: [Int64] = []
        try database.cached("SELECT seq FROM webhooks WHERE disabled_at IS NULL ORDER BY seq > ? DESC, seq").bind(1, after)
            .forEachRow { endpoints.append($0.int64(0)) }
        let candidates = try database.cached("""
            SELECT d.event_seq, d.ordering_key, d.attempts FROM webhook_deliveries d INDEXED BY webhook_deliveries_due
            WHERE d.webhook_seq = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
            AND d.event_seq NOT IN (SELECT value FROM json_each(?3))
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p INDEXED BY webhook_deliveries_by_key
                            WHERE p.webhook_seq = ?1 AND p.ordering_key = d.ordering_key AND p.status = 'pending' AND p.event_seq < d.event_seq)
            ORDER BY d.next_attempt_at LIMIT ?4
            """)
        let details = try database.cached("""
            SELECT e.id, e.body, e.created_at, w.url, w.secret, CASE WHEN w.previous_secret_until > ?1 THEN w.previous_secret END
            FROM webhook_events e, webhooks w WHERE e.seq = ?2 AND w.seq = ?3
            """)
        var due: [DueDelivery] = []
        for webhook in endpoints where due.count < free {
            let busy = held[webhook] ?? []
            let share = min(2 * perEndpoint - busy.count, free - due.count)
            guard share > 0 else { continue }
            var chosen: [(event: Int64, orderingKey: String, attempts: Int)] = []
            candidates.bind(1, webhook).bind(2, now).bind(3, "[" + busy.map(String.init).joined(separator: ",") + "]").bind(4, share)
            try candidates.forEachRow { chosen.append(($0.int64(0), $0.string(1), $0.int(2))) }
            for delivery in chosen {
                details.bind(1, now).bind(2, delivery.event).bind(3, webhook)
                defer { details.reset() }
                guard try details.step() else { continue }
                due.append(DueDelivery(webhook: webhook, event: delivery.event, orderingKey: delivery.orderingKey, eventID: details.string(0),
                                       url: details.string(3), secret: details.string(4), previousSecret: details.optionalString(5),
                                       body: Array(details.string(1).utf8), attempts: delivery.attempts, eventCreatedAt: details.int64(2)))
            }
        }
        return due
    }
}
