import Dialing
import Foundation
import Protocol
import Runtime
import SQLite

/// All campaign state, in one SQLite file. The only code that touches the database.
///
/// An actor on its own serial queue. Writes go through `mutate`: each runs in a savepoint of a
/// shared transaction that commits as soon as the actor has nothing else queued (group commit),
/// and the caller hears back only after that commit. Under load many writes share one fsync;
/// alone, a write commits at once.
actor Store {
    private let executor: QueueExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let database: Database
    private var inTransaction = false
    /// Which transaction a scheduled commit belongs to; one abandoned by SQLite is not committed.
    private var transactionGeneration = 0
    private var transactionStarted = ContinuousClock.now
    private var commitWaiters: [CheckedContinuation<Void, any Error>] = []
    let metrics: ManagerMetrics
    static let commitWindow = Duration.milliseconds(1)

    init(path: String, metrics: ManagerMetrics = ManagerMetrics()) throws {
        self.metrics = metrics
        executor = QueueExecutor(label: "rymi.store")
        database = try Database(path: path)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            PRAGMA foreign_keys = ON;
            PRAGMA busy_timeout = 5000;
            PRAGMA cache_size = -32768;
            """)
        try Schema.migrate(database)
    }

    /// Flushes the WAL into the main file; called on shutdown.
    func checkpoint() {
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Runs `body` as one atomic write and returns once it is durable.
    func mutate<T>(_ body: () throws -> T) async throws -> T {
        if !inTransaction {
            try database.execute("BEGIN IMMEDIATE")
            inTransaction = true
            transactionStarted = ContinuousClock.now
            let generation = transactionGeneration
            Task {
                // A moment for more writes to join this commit: under load many share one fsync.
                try? await Task.sleep(for: Store.commitWindow)
                self.commit(generation: generation)
            }
        }
        try database.execute("SAVEPOINT mutation")
        let result: T
        do {
            result = try body()
            try database.execute("RELEASE mutation")
        } catch {
            try? database.execute("ROLLBACK TO mutation")
            try? database.execute("RELEASE mutation")
            if database.isAutocommit {
                // SQLite rolled the whole transaction back by itself (disk full, I/O error): the
                // writes batched with this one are gone too, so their callers must hear it now.
                abandonTransaction(error)
            }
            throw error
        }
        try await withCheckedThrowingContinuation { commitWaiters.append($0) }
        return result
    }

    private func abandonTransaction(_ error: any Error) {
        let waiters = commitWaiters
        commitWaiters = []
        inTransaction = false
        transactionGeneration += 1
        waiters.forEach { $0.resume(throwing: error) }
    }

    private func commit(generation: Int) {
        guard generation == transactionGeneration, inTransaction else { return }
        let waiters = commitWaiters
        commitWaiters = []
        inTransaction = false
        transactionGeneration += 1
        do {
            try database.execute("COMMIT")
            let elapsed = ContinuousClock.now - transactionStarted
            metrics.commitSeconds.observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            metrics.commitBatch.observe(Double(waiters.count))
            waiters.forEach { $0.resume() }
        } catch {
            try? database.execute("ROLLBACK")
            waiters.forEach { $0.resume(throwing: error) }
        }
    }

    var queries: Queries { Queries(database: database) }

    // MARK: Campaigns

    static let campaignColumns = """
        seq, id, name, agent_id, call_from_number, status, created_at, updated_at,
        pending_count, dialed_count, completed_count, failed_count, skipped_dnc_count, paused_reason, account
        """

    static func campaign(from row: Statement) -> CampaignRecord {
        CampaignRecord(
            id: row.string(1), name: row.string(2), agentID: row.string(3), callFromNumber: row.optionalString(4),
            status: CampaignStatus(rawValue: row.string(5)) ?? .draft, createdAt: row.int64(6), updatedAt: row.int64(7),
            counts: ContactCounts(pending: row.int(8), dialed: row.int(9), completed: row.int(10), failed: row.int(11), skippedDNC: row.int(12)),
            pausedReason: row.optionalString(13)
        )
    }

    func createCampaign(_ request: CreateCampaign) async throws -> CampaignRecord {
        let now = Timestamp.nowMilliseconds()
        let id = "cmp_" + UUID().uuidString.lowercased()
        try await mutate {
            try database.cached("""
                INSERT INTO campaigns (id, account, name, agent_id, call_from_number, status, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'draft', ?, ?)
                """)
                .bind(1, id).bind(2, request.account).bind(3, request.name).bind(4, request.agentID)
                .bind(5, request.callFromNumber).bind(6, now).bind(7, now).run()
        }
        return CampaignRecord(
            id: id, name: request.name, agentID: request.agentID, callFromNumber: request.callFromNumber,
            status: .draft, createdAt: now, updatedAt: now, counts: ContactCounts()
        )
    }

    func updateCampaign(_ request: UpdateCampaign) async throws -> CampaignRecord {
        try await mutate {
            var (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            let changesDialing = (request.agentID.map { $0 != record.agentID } ?? false)
                || (request.callFromNumber.map { $0 != record.callFromNumber } ?? false)
            try CampaignLifecycle.check(.update(changesDialing: changesDialing), on: record.lifecycle)
            record.name = request.name ?? record.name
            record.agentID = request.agentID ?? record.agentID
            record.callFromNumber = request.callFromNumber ?? record.callFromNumber
            record.updatedAt = Timestamp.nowMilliseconds()
            try database.cached("UPDATE campaigns SET name = ?, agent_id = ?, call_from_number = ?, updated_at = ? WHERE seq = ?")
                .bind(1, record.name).bind(2, record.agentID).bind(3, record.callFromNumber).bind(4, record.updatedAt).bind(5, seq).run()
            return record
        }
    }

    func deleteCampaign(_ request: DeleteCampaign) async throws {
        try await mutate {
            let (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            let inFlight = try database.cached("SELECT count(*) FROM contacts WHERE campaign_seq = ? AND call_state IS NOT NULL")
            inFlight.bind(1, seq)
            let calls = try inFlight.step() ? inFlight.int(0) : 0
            inFlight.reset()
            try CampaignLifecycle.check(.delete(callsInProgress: calls), on: record.lifecycle)
            try database.cached("DELETE FROM contacts WHERE campaign_seq = ?").bind(1, seq).run()
            try database.cached("DELETE FROM campaigns WHERE seq = ?").bind(1, seq).run()
        }
    }

    // MARK: Contacts

    /// Returns the campaign's position too, so a running campaign's dispatcher can pick the new contacts up.
    func uploadContacts(_ request: UploadContacts) async throws -> (result: UploadResult, campaignSeq: Int64, running: Bool) {
        try await mutate {
            let (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            try CampaignLifecycle.check(.uploadContacts, on: record.lifecycle)
            let now = Timestamp.nowMilliseconds()
            var inserted = 0
            // Many rows per statement: each execution has a fixed cost (and AUTOINCREMENT
            // writes sqlite_sequence once per statement, not per row).
            var rest = request.contacts[...]
            while !rest.isEmpty {
                let rows = rest.count >= Self.insertBatch ? Self.insertBatch : 1
                let insert = try database.cached(Self.insertContactsSQL[rows]!)
                for (row, contact) in rest.prefix(rows).enumerated() {
                    let base = Int32(row * 4)
                    insert.bind(base + 1, seq).bind(base + 2, contact.phoneNumber).bind(base + 3, contact.variables).bind(base + 4, now)
                }
                try insert.run()
                inserted += database.changes
                rest = rest.dropFirst(rows)
            }
            try database.cached("UPDATE campaigns SET pending_count = pending_count + ?, updated_at = ? WHERE seq = ?")
                .bind(1, inserted).bind(2, now).bind(3, seq).run()
            return (UploadResult(inserted: inserted, duplicates: request.contacts.count - inserted), seq, record.status == .running)
        }
    }

    static let insertBatch = 100

    static let insertContactsSQL = [1: contactInsert(rows: 1), insertBatch: contactInsert(rows: insertBatch)]

    private static func contactInsert(rows: Int) -> String {
        let values = (0..<rows).map { row in
            let base = row * 4
            return "(?\(base + 1), ?\(base + 2), ?\(base + 3), 'pending', ?\(base + 4), ?\(base + 4))"
        }
        return "INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at) VALUES "
            + values.joined(separator: ", ") + " ON CONFLICT (campaign_seq, phone_number) DO NOTHING"
    }

    static let contactColumns = """
        seq, phone_number, variables, status, created_at, updated_at, request_uuid, call_uuid, failure_reason, failure_detail,
        hangup_cause, hangup_cause_code, dialed_at, answered_at, ended_at, duration, bill_duration
        """

    static func contact(from row: Statement, campaignID: String) -> ContactRecord {
        ContactRecord(
            id: ContactID.format(row.int64(0)), campaignID: campaignID, phoneNumber: row.string(1), variables: row.string(2),
            status: ContactStatus(rawValue: row.string(3)) ?? .pending, createdAt: row.int64(4), updatedAt: row.int64(5),
            call: CallDetails(
                requestUUID: row.optionalString(6), callUUID: row.optionalString(7), failureReason: row.optionalString(8),
                failureDetail: row.optionalString(9), hangupCause: row.optionalString(10), hangupCauseCode: row.optionalInt64(11).map(Int.init),
                dialedAt: row.optionalInt64(12), answeredAt: row.optionalInt64(13), endedAt: row.optionalInt64(14),
                durationSeconds: row.optionalInt64(15).map(Int.init), billDurationSeconds: row.optionalInt64(16).map(Int.init)
            )
        )
    }

}

/// Contact ids are `ct_` and the row's position; positions are never reused.
enum ContactID {
    static func format(_ seq: Int64) -> String { "ct_\(seq)" }

    static func parse(_ id: String) -> Int64? {
        guard id.hasPrefix("ct_"), let seq = Int64(id.dropFirst(3)), seq > 0 else { return nil }
        return seq
    }
}

extension CampaignRecord {
    /// What the campaign rules need to know of this campaign.
    var lifecycle: CampaignLifecycle.Campaign { CampaignLifecycle.Campaign(status: status, hasCallerID: callFromNumber != nil) }
}
