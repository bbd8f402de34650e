import Dialing
import Foundation
import JSON
import Protocol
import Runtime

/// Uploads in several messages (a CSV file streamed through the gateway). Each batch is staged as
/// one row, its contacts as a JSON array, in a temporary table of the writer's connection (kept on
/// disk by SQLite, outside the database file), and the whole upload goes into the campaign in one
/// transaction at the end, SQLite reading the arrays itself: all or nothing however it arrived. A
/// crash, or an upload left idle, drops what was staged.
extension Store {
    struct UploadSession {
        let account: String
        let campaign: Int64
        var lastUsed: ContinuousClock.Instant
        /// Batches and contacts staged so far (each batch's write committed before the next comes).
        var batches = 0
        var staged = 0
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
                CREATE TEMP TABLE IF NOT EXISTS staged_batches (
                    token TEXT NOT NULL, batch INTEGER NOT NULL, count INTEGER NOT NULL, contacts TEXT NOT NULL, PRIMARY KEY (token, batch)
                ) WITHOUT ROWID
                """)
            // Rows of uploads that ended in a write that was rolled back are swept when none is under way.
            if uploads.isEmpty { try database.execute("DELETE FROM staged_batches") }
            let token = UUID().uuidString.lowercased()
            uploads[token] = UploadSession(account: request.account, campaign: seq, lastUsed: ContinuousClock.now)
            return ContactUploadSession(token: token, defaultCountry: record.defaultCountry)
        }
    }

    func stageContacts(_ request: StageContacts) async throws {
        try await mutate {
            var session = try upload(request.token, of: request.account)
            guard session.staged + request.count <= Self.maxStagedContacts else {
                throw RemoteError(.invalid, "an upload may hold at most \(Self.maxStagedContacts) contacts")
            }
            // The gateway's text is the shape it says: a JSON array of `count` entries of three
            // (each field was checked by the gateway, which proved itself at the handshake, as
            // for `UploadContacts`).
            let check = try database.cached("SELECT count(*), coalesce(sum(json_array_length(value) = 3), 0) FROM json_each(?1)")
            check.bind(1, request.contacts)
            let shaped = try check.step() ? (check.int(0), check.int(1)) : (0, 0)
            check.reset()
            guard shaped.0 == request.count, shaped.1 == request.count else {
                throw RemoteError(.malformed, "staged contacts: not an array of \(request.count) [phone, variables, timezone] entries")
            }
            try database.cached("INSERT INTO staged_batches (token, batch, count, contacts) VALUES (?, ?, ?, ?)")
                .bind(1, request.token).bind(2, session.batches).bind(3, request.count).bind(4, request.contacts).run()
            session.batches += 1
            session.staged += request.count
            uploads[request.token] = session
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
                // Batch by batch, each array in its order: the contacts go in as the file had them.
                var inserted = 0
                let batches = try database.cached("SELECT contacts FROM staged_batches WHERE token = ? ORDER BY batch")
                batches.bind(1, request.token)
                let insert = try database.cached("""
                    INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at, timezone)
                    SELECT ?1, value ->> 0, value ->> 1, 'pending', ?2, ?2, value ->> 2 FROM json_each(?3) WHERE true
                    ON CONFLICT (campaign_seq, phone_number) DO NOTHING
                    """)
                do {
                    defer { batches.reset() }
                    while try batches.step() {
                        try insert.bind(1, session.campaign).bind(2, now).bind(3, batches.string(0)).run()
                        inserted += database.changes
                    }
                }
                try database.cached("UPDATE campaigns SET pending_count = pending_count + ?, updated_at = ? WHERE seq = ?")
                    .bind(1, inserted).bind(2, now).bind(3, session.campaign).run()
                try discardStaged(request.token)
                let result = UploadResult(inserted: inserted, duplicates: staged - inserted)
                try recordIdempotentReply(result)
                return (result, session.campaign, record.status == .running)
            }
        } catch {
            // Refused (a lifecycle that no longer takes uploads, rows lost): the upload is over all the same.
            if uploads[request.token]?.account == request.account { try? await mutate { try discardStaged(request.token) } }
            throw error
        }
    }

    private func discardStaged(_ token: String) throws {
        uploads[token] = nil
        try database.cached("DELETE FROM staged_batches WHERE token = ?").bind(1, token).run()
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
        let count = try database.cached("SELECT coalesce(sum(count), 0) FROM staged_batches WHERE token = ?")
        count.bind(1, token)
        defer { count.reset() }
        return try count.step() ? count.int(0) : 0
    }

    private func dropIdleUploads() throws {
        let now = ContinuousClock.now
        for (token, session) in uploads where now - session.lastUsed > Self.uploadIdleTimeout { try discardStaged(token) }
    }
}
