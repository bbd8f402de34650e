import Protocol
import Runtime
import SQLite

/// The reads of the API, on whichever connection they are given: the store's own inside a
/// write, or the reader's for everything a client asks to see.
struct Queries {
    let database: Database

    func listCampaigns(_ request: ListCampaigns) throws -> CampaignPage {
        let statement = try database.cached("""
            SELECT \(Store.campaignColumns) FROM campaigns
            WHERE account = ? AND seq < ? ORDER BY seq DESC LIMIT ?
            """)
        statement.bind(1, request.account).bind(2, request.before ?? Int64.max).bind(3, request.limit + 1)
        var campaigns: [CampaignRecord] = []
        var lastSeq: Int64?
        var more = false
        try statement.forEachRow { row in
            if campaigns.count == request.limit {
                more = true
            } else {
                campaigns.append(Store.campaign(from: row))
                lastSeq = row.int64(0)
            }
        }
        return CampaignPage(campaigns: campaigns, nextBefore: more ? lastSeq : nil)
    }

    /// The campaign's row, or `not_found` when it does not exist or belongs to another account.
    func campaignRow(account: String, id: String) throws -> (seq: Int64, record: CampaignRecord) {
        let statement = try database.cached("SELECT \(Store.campaignColumns) FROM campaigns WHERE id = ? AND account = ?")
        statement.bind(1, id).bind(2, account)
        defer { statement.reset() }
        guard try statement.step() else { throw RemoteError(.notFound, "campaign \(id) not found") }
        let seq = statement.int64(0)
        var record = Store.campaign(from: statement)
        statement.reset()
        // Only pending contacts wait for a window.
        if record.counts.pending > 0 { (record.waitingWindow, record.nextWindowOpensAt) = try waitingForWindow(seq) }
        return (seq, record)
    }

    /// Pending contacts whose calling window is closed now, and when the first of them opens.
    func waitingForWindow(_ campaign: Int64) throws -> (Int, Int64?) {
        let statement = try database.cached("""
            SELECT count(*), min(window_opens_at) FROM contacts INDEXED BY contacts_waiting_window
            WHERE campaign_seq = ? AND window_opens_at > ? AND status = 'pending'
            """)
        statement.bind(1, campaign).bind(2, Timestamp.nowMilliseconds())
        defer { statement.reset() }
        guard try statement.step() else { return (0, nil) }
        return (statement.int(0), statement.optionalInt64(1))
    }

    func campaign(_ request: GetCampaign) throws -> CampaignRecord {
        try campaignRow(account: request.account, id: request.campaignID).record
    }

    func listContacts(_ request: ListContacts) throws -> ContactPage {
        let (seq, _) = try campaignRow(account: request.account, id: request.campaignID)
        let statement: Statement
        if let status = request.status {
            statement = try database.cached("""
                SELECT \(Store.contactColumns) FROM contacts INDEXED BY contacts_by_campaign_status
                WHERE campaign_seq = ? AND status = ? AND seq > ? ORDER BY seq LIMIT ?
                """)
            statement.bind(1, seq).bind(2, status.rawValue).bind(3, request.after ?? 0).bind(4, request.limit + 1)
        } else {
            statement = try database.cached("""
                SELECT \(Store.contactColumns) FROM contacts INDEXED BY contacts_by_campaign
                WHERE campaign_seq = ? AND seq > ? ORDER BY seq LIMIT ?
                """)
            statement.bind(1, seq).bind(2, request.after ?? 0).bind(3, request.limit + 1)
        }
        var contacts: [ContactRecord] = []
        var more = false
        try statement.forEachRow { row in
            if contacts.count == request.limit {
                more = true
            } else {
                contacts.append(Store.contact(from: row, campaignID: request.campaignID))
            }
        }
        let last = contacts.last.flatMap { ContactID.parse($0.id) }
        return ContactPage(contacts: contacts, nextAfter: more ? last : nil)
    }

    func contact(_ request: GetContact) throws -> ContactRecord {
        let (campaignSeq, _) = try campaignRow(account: request.account, id: request.campaignID)
        guard let contactSeq = ContactID.parse(request.contactID) else {
            throw RemoteError(.notFound, "contact \(request.contactID) not found")
        }
        return try contact(seq: contactSeq, campaign: campaignSeq, campaignID: request.campaignID)
    }

    /// A contact with its attempts, by position (its campaign already known).
    func contact(seq contactSeq: Int64, campaign campaignSeq: Int64, campaignID: String) throws -> ContactRecord {
        let statement = try database.cached("SELECT \(Store.contactColumns) FROM contacts WHERE seq = ? AND campaign_seq = ?")
        statement.bind(1, contactSeq).bind(2, campaignSeq)
        defer { statement.reset() }
        guard try statement.step() else { throw RemoteError(.notFound, "contact \(ContactID.format(contactSeq)) not found") }
        var record = Store.contact(from: statement, campaignID: campaignID)
        statement.reset()
        try database.cached("""
            SELECT attempt, begun_at, dnc_version, dnc_entries, local_time, timezone, timezone_source, calling_window, outcome,
            failure_reason, ended_at, request_uuid, call_uuid, answered_at, hangup_cause, hangup_cause_code, duration, answered_by
            FROM attempts WHERE contact_seq = ? ORDER BY attempt
            """).bind(1, contactSeq).forEachRow { row in
                record.attempts.append(AttemptRecord(
                    attempt: row.int64(0), begunAt: row.int64(1), dncVersion: row.int64(2), dncEntries: row.int64(3),
                    localTime: row.optionalString(4), timezone: row.optionalString(5), timezoneSource: row.optionalString(6),
                    callingWindow: row.optionalString(7), outcome: row.optionalString(8), failureReason: row.optionalString(9),
                    endedAt: row.optionalInt64(10), requestUUID: row.optionalString(11), callUUID: row.optionalString(12),
                    answeredAt: row.optionalInt64(13), hangupCause: row.optionalString(14),
                    hangupCauseCode: row.optionalInt64(15).map(Int.init), durationSeconds: row.optionalInt64(16).map(Int.init)))
                record.attempts[record.attempts.count - 1].answeredBy = row.optionalString(17)
            }
        return record
    }

    func listDNC(_ request: ListDNC) throws -> DNCPage {
        var entries: [DNCEntry] = []
        var more = false
        try database.cached("""
            SELECT phone_number, created_at, source, contact_id FROM dnc WHERE account = ? AND phone_number > ? ORDER BY phone_number LIMIT ?
            """)
            .bind(1, request.account).bind(2, request.after ?? "").bind(3, request.limit + 1)
            .forEachRow { row in
                if entries.count == request.limit {
                    more = true
                } else {
                    entries.append(DNCEntry(phoneNumber: row.string(0), createdAt: row.int64(1), source: row.string(2), contactID: row.optionalString(3)))
                }
            }
        return DNCPage(entries: entries, nextAfter: more ? entries.last?.phoneNumber : nil)
    }
}
