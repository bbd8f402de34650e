import Dialing
import Foundation
import JSON
import Protocol
import Runtime

/// Uploads in several messages (a CSV file streamed through the gateway). Each upload has a
/// temporary table of the writer's connection (kept on disk by SQLite, outside the database
/// file), into which each batch's lines are read as they come, a row per contact in the file's
/// order; the whole upload goes into the campaign in one transaction at the end, all
/// or nothing however it arrived. Reading the batches as they come, while the gateway reads the
/// next one, leaves the end only the insert itself. A crash, or an upload left idle, drops what
/// was staged.
extension Store {
    struct UploadSession {
        let account: String
        let campaign: Int64
        var lastUsed: ContinuousClock.Instant
        /// Contacts staged so far (each batch's write committed before the next comes).
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
            // Tables of uploads that ended in a write that was rolled back are swept when none is under way.
            if uploads.isEmpty { try dropStagingTables() }
            let token = UUID().uuidString.lowercased()
            // Rows in insertion order: the rowid is the contact's place in the file.
            try database.execute("""
                CREATE TEMP TABLE \(Self.stagingTable(token)) (phone_number TEXT NOT NULL, variables TEXT NOT NULL, timezone TEXT)
                """)
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
            // The gateway's lines, each field checked by the gateway (which proved itself at the
            // handshake, as for `UploadContacts`); a batch that is not the shape or the count it
            // says is refused whole: the savepoint takes back what it staged.
            let insert = try database.prepared("INSERT INTO \(Self.stagingTable(request.token)) (phone_number, variables, timezone) VALUES (?, ?, ?)")
            let staged = try ContactBatch.forEachContact(in: request.contacts) { phone, variables, zone in
                insert.bind(1, utf8: phone).bind(2, utf8: variables)
                if zone.isEmpty { insert.bind(3, nil as String?) } else { insert.bind(3, utf8: zone) }
                try insert.run()
            }
            guard staged == request.count else {
                throw RemoteError(.malformed, "staged contacts: \(staged) lines, not the \(request.count) said")
            }
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
                // In the file's order: the rowid order the rows were staged in.
                try database.prepared("""
                    INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at, timezone)
                    SELECT ?1, phone_number, variables, 'pending', ?2, ?2, timezone FROM \(Self.stagingTable(request.token)) WHERE true ORDER BY rowid
                    ON CONFLICT (campaign_seq, phone_number) DO NOTHING
                    """).bind(1, session.campaign).bind(2, now).run()
                let inserted = database.changes
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
        try database.execute("DROP TABLE IF EXISTS \(Self.stagingTable(token))")
    }

    /// An upload's staging table: its name is made of the token, which only the manager makes.
    private static func stagingTable(_ token: String) -> String {
        "temp.staged_" + token.filter(\.isHexDigit)
    }

    private func dropStagingTables() throws {
        var names: [String] = []
        try database.cached("SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE 'staged\\_%' ESCAPE '\\'")
            .forEachRow { names.append($0.string(0)) }
        for name in names where name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            try database.execute("DROP TABLE temp.\(name)")
        }
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

    /// Rows are only ever appended, so the last rowid is the count.
    private func stagedCount(_ token: String) throws -> Int {
        let count = try database.prepared("SELECT coalesce(max(rowid), 0) FROM \(Self.stagingTable(token))")
        return try count.step() ? count.int(0) : 0
    }

    private func dropIdleUploads() throws {
        let now = ContinuousClock.now
        for (token, session) in uploads where now - session.lastUsed > Self.uploadIdleTimeout { try discardStaged(token) }
    }
}
