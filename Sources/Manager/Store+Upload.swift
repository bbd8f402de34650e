import Dialing
import Foundation
import Protocol
import Runtime

/// Uploads in several messages (a CSV file streamed through the gateway). Each batch is staged in
/// a temporary table of the writer's connection (kept on disk by SQLite, outside the database
/// file), and the whole upload goes into the campaign in one transaction at the end: all or
/// nothing however it arrived. A crash, or an upload left idle, drops what was staged.
extension Store {
    struct UploadSession {
        let account: String
        let campaign: Int64
        var lastUsed: ContinuousClock.Instant
    }

    static let maxOpenUploads = 16
    static let maxOpenUploadsPerAccount = 2
    /// An upload with no batch for this long is dropped.
    static let uploadIdleTimeout = Duration.seconds(60)
    static let maxStagedContacts = 1_000_000

    func beginUpload(_ request: BeginContactUpload) async throws -> ContactUploadSession {
        try await mutate {
            try dropIdleUploads()
            let (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            try CampaignLifecycle.check(.uploadContacts, on: record.lifecycle)
            guard uploads.count < Self.maxOpenUploads,
                  uploads.values.filter({ $0.account == request.account }).count < Self.maxOpenUploadsPerAccount
            else {
                throw RemoteError(.unavailable, "too many uploads under way; retry when one has finished")
            }
            try database.execute("""
                CREATE TEMP TABLE IF NOT EXISTS staged_contacts (
                    token TEXT NOT NULL, position INTEGER NOT NULL, phone_number TEXT NOT NULL, variables TEXT NOT NULL, timezone TEXT,
                    PRIMARY KEY (token, position)
                ) WITHOUT ROWID
                """)
            // Rows of uploads that ended in a write that was rolled back are swept when none is under way.
            if uploads.isEmpty { try database.execute("DELETE FROM staged_contacts") }
            let token = UUID().uuidString.lowercased()
            uploads[token] = UploadSession(account: request.account, campaign: seq, lastUsed: ContinuousClock.now)
            return ContactUploadSession(token: token, defaultCountry: record.defaultCountry)
        }
    }

    func stageContacts(_ request: StageContacts) async throws {
        try await mutate {
            _ = try upload(request.token, of: request.account)
            let staged = try stagedCount(request.token)
            guard staged + request.contacts.count <= Self.maxStagedContacts else {
                throw RemoteError(.invalid, "an upload may hold at most \(Self.maxStagedContacts) contacts")
            }
            // Many rows per statement, as in `uploadContacts`: each execution has a fixed cost.
            var position = staged
            var rest = request.contacts[...]
            while !rest.isEmpty {
                let rows = rest.count >= Self.insertBatch ? Self.insertBatch : 1
                let insert = try database.cached(Self.stageSQL[rows]!)
                for (row, contact) in rest.prefix(rows).enumerated() {
                    let base = Int32(row * 5)
                    insert.bind(base + 1, request.token).bind(base + 2, position + row).bind(base + 3, contact.phoneNumber)
                        .bind(base + 4, contact.variables).bind(base + 5, contact.timezone)
                }
                try insert.run()
                position += rows
                rest = rest.dropFirst(rows)
            }
        }
    }

    /// Inserts what was staged (numbers already in the campaign, or repeated, are skipped), or
    /// drops it; returns what `uploadContacts` does.
    func finishUpload(_ request: FinishContactUpload) async throws -> (result: UploadResult, campaignSeq: Int64, running: Bool) {
        do {
            return try await mutate {
                let session = try upload(request.token, of: request.account)
                let staged = try stagedCount(request.token)
                guard request.commit else {
                    try discardStaged(request.token)
                    return (UploadResult(inserted: 0, duplicates: 0), session.campaign, false)
                }
                // Rows lost on the way (a batch the manager never staged) fail the whole upload.
                guard staged == request.staged else {
                    throw RemoteError(.conflict, "the upload lost contacts on the way (\(staged) of \(request.staged) staged); nothing was inserted, send it again")
                }
                let record = try queries.campaignRow(account: session.account, id: try campaignID(session.campaign)).record
                try CampaignLifecycle.check(.uploadContacts, on: record.lifecycle)
                let now = Timestamp.nowMilliseconds()
                try database.cached("""
                    INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at, timezone)
                    SELECT ?1, phone_number, variables, 'pending', ?2, ?2, timezone FROM staged_contacts WHERE token = ?3 ORDER BY position
                    ON CONFLICT (campaign_seq, phone_number) DO NOTHING
                    """).bind(1, session.campaign).bind(2, now).bind(3, request.token).run()
                let inserted = database.changes
                try database.cached("UPDATE campaigns SET pending_count = pending_count + ?, updated_at = ? WHERE seq = ?")
                    .bind(1, inserted).bind(2, now).bind(3, session.campaign).run()
                try discardStaged(request.token)
                return (UploadResult(inserted: inserted, duplicates: staged - inserted), session.campaign, record.status == .running)
            }
        } catch {
            // Refused (a lifecycle that no longer takes uploads, rows lost): the upload is over all the same.
            if uploads[request.token]?.account == request.account { try? await mutate { try discardStaged(request.token) } }
            throw error
        }
    }

    private func discardStaged(_ token: String) throws {
        uploads[token] = nil
        try database.cached("DELETE FROM staged_contacts WHERE token = ?").bind(1, token).run()
    }

    static let stageSQL = [1: stageInsert(rows: 1), insertBatch: stageInsert(rows: insertBatch)]

    private static func stageInsert(rows: Int) -> String {
        "INSERT INTO staged_contacts (token, position, phone_number, variables, timezone) VALUES "
            + (0..<rows).map { row in "(" + (1...5).map { "?\(row * 5 + $0)" }.joined(separator: ", ") + ")" }.joined(separator: ", ")
    }

    private func upload(_ token: String, of account: String) throws -> UploadSession {
        try dropIdleUploads()
        guard var session = uploads[token], session.account == account else {
            throw RemoteError(.notFound, "the upload is not under way (it was finished, left idle for over a minute, or the manager restarted); send it again")
        }
        session.lastUsed = ContinuousClock.now
        uploads[token] = session
        return session
    }

    private func stagedCount(_ token: String) throws -> Int {
        let count = try database.cached("SELECT count(*) FROM staged_contacts WHERE token = ?")
        count.bind(1, token)
        defer { count.reset() }
        return try count.step() ? count.int(0) : 0
    }

    private func dropIdleUploads() throws {
        let now = ContinuousClock.now
        for (token, session) in uploads where now - session.lastUsed > Self.uploadIdleTimeout { try discardStaged(token) }
    }
}
