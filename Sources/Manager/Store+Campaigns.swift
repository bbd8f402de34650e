import Dialing
import Foundation
import Protocol
import Runtime
import SQLite
import Telephony

/// Campaigns and their contacts: creation, changes, uploads, and the status flow (each change
/// checked by `CampaignLifecycle`), with the per-status counters every change keeps.
extension Store {
    // MARK: Campaigns

    static let campaignColumns = """
        seq, id, name, agent_id, call_from_number, status, created_at, updated_at,
        pending_count, dialed_count, completed_count, failed_count, skipped_dnc_count, paused_reason, account, default_country,
        calling_window, timezone, canceled_count, retry_policy, start_at, end_at, expired_count, max_concurrent_calls, calls_per_second,
        machine_detection, machine_detection_time
        """

    static func campaign(from row: Statement) -> CampaignRecord {
        var record = CampaignRecord(
            id: row.string(1), name: row.string(2), agentID: row.string(3), callFromNumber: row.optionalString(4),
            status: CampaignStatus(rawValue: row.string(5)) ?? .draft, createdAt: row.int64(6), updatedAt: row.int64(7),
            counts: ContactCounts(pending: row.int(8), dialed: row.int(9), completed: row.int(10), failed: row.int(11), skippedDNC: row.int(12), canceled: row.int(18), expired: row.int(22)),
            pausedReason: row.optionalString(13), defaultCountry: row.optionalString(15),
            callingWindow: row.string(16), timezone: row.optionalString(17)
        )
        record.retryPolicy = row.string(19)
        record.startAt = row.optionalInt64(20)
        record.endAt = row.optionalInt64(21)
        record.maxConcurrentCalls = row.optionalInt64(23).map(Int.init)
        record.callsPerSecond = row.optionalDouble(24)
        record.machineDetection = row.string(25)
        record.machineDetectionTime = row.optionalInt64(26).map(Int.init)
        return record
    }

    func createCampaign(_ request: CreateCampaign) async throws -> CampaignRecord {
        let now = Timestamp.nowMilliseconds()
        let id = "cmp_" + UUID().uuidString.lowercased()
        var record = CampaignRecord(
            id: id, name: request.name, agentID: request.agentID, callFromNumber: request.callFromNumber,
            status: .draft, createdAt: now, updatedAt: now, counts: ContactCounts(), defaultCountry: request.defaultCountry,
            callingWindow: request.callingWindow ?? defaultWindow.text, timezone: request.timezone
        )
        record.retryPolicy = request.retryPolicy ?? ""
        record.startAt = request.startAt
        record.endAt = request.endAt
        record.maxConcurrentCalls = request.maxConcurrentCalls
        record.callsPerSecond = request.callsPerSecond
        record.machineDetection = request.machineDetection ?? "off"
        record.machineDetectionTime = request.machineDetectionTime
        try await mutate {
            if let number = request.callFromNumber { try requireOwned(number, by: request.account) }
            try database.cached("""
                INSERT INTO campaigns (id, account, name, agent_id, call_from_number, status, created_at, updated_at, default_country,
                calling_window, timezone, retry_policy, start_at, end_at, max_concurrent_calls, calls_per_second, machine_detection,
                machine_detection_time)
                VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
                .bind(1, id).bind(2, request.account).bind(3, request.name).bind(4, request.agentID)
                .bind(5, request.callFromNumber).bind(6, now).bind(7, now).bind(8, request.defaultCountry)
                .bind(9, request.callingWindow ?? defaultWindow.text).bind(10, request.timezone).bind(11, request.retryPolicy ?? "")
                .bind(12, request.startAt).bind(13, request.endAt).bind(14, request.maxConcurrentCalls.map(Int64.init))
                .bind(15, request.callsPerSecond).bind(16, request.machineDetection ?? "off")
                .bind(17, request.machineDetectionTime.map(Int64.init)).run()
            try recordIdempotentReply(record)
        }
        return record
    }

    func updateCampaign(_ request: UpdateCampaign) async throws -> (record: CampaignRecord, seq: Int64) {
        try await mutate {
            var (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            let changesDialing = (request.agentID.map { $0 != record.agentID } ?? false)
                || (request.callFromNumber.map { $0 != record.callFromNumber } ?? false)
            try CampaignLifecycle.check(.update(changesDialing: changesDialing), on: record.lifecycle)
            if let number = request.callFromNumber, number != record.callFromNumber { try requireOwned(number, by: request.account) }
            record.name = request.name ?? record.name
            record.agentID = request.agentID ?? record.agentID
            record.callFromNumber = request.callFromNumber ?? record.callFromNumber
            if let country = request.defaultCountry { record.defaultCountry = country.isEmpty ? nil : country }
            if let window = request.callingWindow { record.callingWindow = window.isEmpty ? defaultWindow.text : window }
            if let zone = request.timezone { record.timezone = zone.isEmpty ? nil : zone }
            if let policy = request.retryPolicy { record.retryPolicy = policy }
            if let startAt = request.startAt { record.startAt = startAt == 0 ? nil : startAt }
            if let endAt = request.endAt { record.endAt = endAt == 0 ? nil : endAt }
            if let limit = request.maxConcurrentCalls { record.maxConcurrentCalls = limit == 0 ? nil : limit }
            if let rate = request.callsPerSecond { record.callsPerSecond = rate == 0 ? nil : rate }
            if let mode = request.machineDetection { record.machineDetection = mode }
            if let time = request.machineDetectionTime { record.machineDetectionTime = time == 0 ? nil : time }
            // New limits and detection reach a running campaign's queue as a status change would.
            let limitsChange = request.maxConcurrentCalls != nil || request.callsPerSecond != nil || request.machineDetection != nil
                || request.machineDetectionTime != nil
            if let startAt = record.startAt, let endAt = record.endAt, endAt <= startAt {
                throw RemoteError(.invalid, "end_at: must be after start_at")
            }
            record.updatedAt = Timestamp.nowMilliseconds()
            try database.cached("""
                UPDATE campaigns SET name = ?, agent_id = ?, call_from_number = ?, default_country = ?, calling_window = ?, timezone = ?,
                updated_at = ?, retry_policy = ?, start_at = ?, end_at = ?, max_concurrent_calls = ?, calls_per_second = ?,
                status_version = status_version + ?, machine_detection = ?, machine_detection_time = ? WHERE seq = ?
                """)
                .bind(1, record.name).bind(2, record.agentID).bind(3, record.callFromNumber).bind(4, record.defaultCountry)
                .bind(5, record.callingWindow).bind(6, record.timezone).bind(7, record.updatedAt).bind(8, record.retryPolicy)
                .bind(9, record.startAt).bind(10, record.endAt).bind(11, record.maxConcurrentCalls.map(Int64.init))
                .bind(12, record.callsPerSecond).bind(13, limitsChange ? 1 : 0).bind(14, record.machineDetection)
                .bind(15, record.machineDetectionTime.map(Int64.init)).bind(16, seq).run()
            return (record, seq)
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
                    let base = Int32(row * 5)
                    insert.bind(base + 1, seq).bind(base + 2, contact.phoneNumber).bind(base + 3, contact.variables).bind(base + 4, now)
                        .bind(base + 5, contact.timezone)
                }
                try insert.run()
                inserted += database.changes
                rest = rest.dropFirst(rows)
            }
            try database.cached("UPDATE campaigns SET pending_count = pending_count + ?, updated_at = ? WHERE seq = ?")
                .bind(1, inserted).bind(2, now).bind(3, seq).run()
            let result = UploadResult(inserted: inserted, duplicates: request.contacts.count - inserted)
            try recordIdempotentReply(result)
            return (result, seq, record.status == .running)
        }
    }

    static let insertBatch = 100

    static let insertContactsSQL = [1: contactInsert(rows: 1), insertBatch: contactInsert(rows: insertBatch)]

    private static func contactInsert(rows: Int) -> String {
        let values = (0..<rows).map { row in
            let base = row * 5
            return "(?\(base + 1), ?\(base + 2), ?\(base + 3), 'pending', ?\(base + 4), ?\(base + 4), ?\(base + 5))"
        }
        return "INSERT INTO contacts (campaign_seq, phone_number, variables, status, created_at, updated_at, timezone) VALUES "
            + values.joined(separator: ", ") + " ON CONFLICT (campaign_seq, phone_number) DO NOTHING"
    }

    static let contactColumns = """
        seq, phone_number, variables, status, created_at, updated_at, request_uuid, call_uuid, failure_reason, failure_detail,
        hangup_cause, hangup_cause_code, dialed_at, answered_at, ended_at, duration, bill_duration, timezone, window_opens_at,
        attempt_count, next_attempt_at, answered_by
        """

    static func contact(from row: Statement, campaignID: String) -> ContactRecord {
        var record = ContactRecord(
            id: ContactID.format(row.int64(0)), campaignID: campaignID, phoneNumber: row.string(1), variables: row.string(2),
            status: ContactStatus(rawValue: row.string(3)) ?? .pending, createdAt: row.int64(4), updatedAt: row.int64(5),
            call: CallDetails(
                requestUUID: row.optionalString(6), callUUID: row.optionalString(7), failureReason: row.optionalString(8),
                failureDetail: row.optionalString(9), hangupCause: row.optionalString(10), hangupCauseCode: row.optionalInt64(11).map(Int.init),
                dialedAt: row.optionalInt64(12), answeredAt: row.optionalInt64(13), endedAt: row.optionalInt64(14),
                durationSeconds: row.optionalInt64(15).map(Int.init), billDurationSeconds: row.optionalInt64(16).map(Int.init)
            ),
            timezone: row.optionalString(17), windowOpensAt: row.optionalInt64(18)
        )
        record.attemptsMade = row.int(19)
        record.nextAttemptAt = row.optionalInt64(20)
        record.answeredBy = row.optionalString(21)
        return record
    }

    // MARK: Lifecycle

    /// The campaign for `command`, once the campaign rules allow it (a `Refusal` otherwise).
    private func campaignChanging(_ account: String, _ id: String, _ command: CampaignLifecycle.Command) throws -> (seq: Int64, record: CampaignRecord) {
        let (seq, record) = try queries.campaignRow(account: account, id: id)
        try CampaignLifecycle.check(command, on: record.lifecycle)
        return (seq, record)
    }

    /// Every status change bumps the version the dispatcher orders them by.
    func setStatus(_ seq: Int64, _ status: CampaignStatus, now: Int64) throws {
        try database.cached("""
            UPDATE campaigns SET status = ?, paused_reason = CASE WHEN ? = 'running' THEN NULL ELSE paused_reason END,
            updated_at = ?, status_version = status_version + 1 WHERE seq = ?
            """).bind(1, status.rawValue).bind(2, status.rawValue).bind(3, now).bind(4, seq).run()
    }

    /// Starts the campaign, or schedules it when its `start_at` is still to come; `scheduled`
    /// says which.
    func startCampaign(_ request: StartCampaign) async throws -> (result: StartResult, seq: Int64, scheduled: Bool) {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let (seq, record) = try queries.campaignRow(account: request.account, id: request.campaignID)
            let startsLater = (record.startAt ?? now) > now
            let status = try CampaignLifecycle.check(.start(startsLater: startsLater, ended: (record.endAt ?? Int64.max) <= now),
                                                     on: record.lifecycle) ?? .running
            if let number = record.callFromNumber { try requireOwned(number, by: request.account) }
            try requireKnownZones(campaign: seq)
            if status == .running { note(.campaign("campaign.started", campaign: seq)) }
            let skipped = try changingContacts(to: .skippedDNC, campaign: seq, now: now) { batch in
                try database.cached("""
                    UPDATE contacts SET status = 'skipped_dnc', updated_at = ?1, event_batch = ?4
                    WHERE campaign_seq = ?2 AND status = 'pending'
                    AND phone_number IN (SELECT phone_number FROM dnc WHERE account = ?3)
                    """).bind(1, now).bind(2, seq).bind(3, request.account).bind(4, batch).run()
            }
            try moveCounts(campaign: seq, from: .pending, to: .skippedDNC, count: skipped, now: now)
            try setStatus(seq, status, now: now)
            _ = try completeIfDone(seq, now: now)
            let result = StartResult(queued: record.counts.pending - skipped, skippedDNC: skipped)
            try recordIdempotentReply(result)
            return (result, seq, status == .scheduled)
        }
    }

    /// A scheduled campaign whose `start_at` has come begins dialing; false if it is no longer
    /// scheduled (canceled meanwhile).
    func startScheduledCampaign(_ seq: Int64) async throws -> Bool {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            try database.cached("""
                UPDATE campaigns SET status = 'running', updated_at = ?, status_version = status_version + 1 WHERE seq = ? AND status = 'scheduled'
                """).bind(1, now).bind(2, seq).run()
            guard database.changes == 1 else { return false }
            note(.campaign("campaign.started", campaign: seq))
            _ = try completeIfDone(seq, now: now)
            return true
        }
    }

    /// The campaign's `end_at` has come: its contacts not called yet expire, and it is completed
    /// once no call of it is in progress. Returns whether it changed.
    func endCampaign(_ seq: Int64) async throws -> Bool {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let statement = try database.cached("SELECT status FROM campaigns WHERE seq = ?")
            statement.bind(1, seq)
            let status = try statement.step() ? CampaignStatus(rawValue: statement.string(0)) : nil
            statement.reset()
            guard let status, status != .draft, !status.isFinal else { return false }
            try endPendingContacts(campaign: seq, as: .expired, now: now)
            _ = try completeIfDone(seq, now: now)
            return true
        }
    }

    /// When campaigns still to start or to end do so: every scheduled one, and those running or
    /// paused with an `end_at` (all of them, or one).
    func campaignDeadlines(_ seq: Int64? = nil) throws -> [(seq: Int64, status: CampaignStatus, startAt: Int64?, endAt: Int64?)] {
        var deadlines: [(seq: Int64, status: CampaignStatus, startAt: Int64?, endAt: Int64?)] = []
        try database.cached("""
            SELECT seq, status, start_at, end_at FROM campaigns
            WHERE (status = 'scheduled' OR (status IN ('running', 'paused') AND end_at IS NOT NULL)) AND (?1 IS NULL OR seq = ?1)
            """).bind(1, seq).forEachRow { row in
                guard let status = CampaignStatus(rawValue: row.string(1)) else { return }
                deadlines.append((row.int64(0), status, row.optionalInt64(2), row.optionalInt64(3)))
            }
        return deadlines
    }

    /// Every pending contact's time zone must be known (its own, its number's, or the campaign's)
    /// before a campaign starts: a country with several zones needs the campaign's `timezone`.
    /// Judged once per zone and country among the contacts, not per contact.
    private func requireKnownZones(campaign seq: Int64) throws {
        let schedules = try campaignSchedules(seq)
        // With a campaign zone every callee has one; +1 numbers always do (their area code's, or
        // the continental window). So only numbers of other countries are looked at, found by
        // the (campaign, number) index without reading the +1 ones.
        guard schedules.zone == nil else { return }
        var unknown: [(reason: String, count: Int)] = []
        try database.cached("""
            SELECT timezone, substr(phone_number, 1, 3) AS prefix, min(phone_number), count(*) FROM contacts
            WHERE campaign_seq = ? AND phone_number >= '2' AND status = 'pending' GROUP BY timezone, prefix
            """).bind(1, seq).forEachRow { row in
                let zone = row.optionalString(0)
                if case .failure(let problem) = CalleeSchedule.of(number: row.string(2), contactZone: zone, campaignZone: schedules.zone,
                                                                  campaignWindow: schedules.window) {
                    unknown.append((problem.reason, row.int(3)))
                }
            }
        guard unknown.isEmpty else {
            let total = unknown.reduce(0) { $0 + $1.count }
            throw RemoteError(.invalid, "timezone: \(total) pending contacts have no known time zone (\(unknown[0].reason))")
        }
    }

    func pauseCampaign(_ request: PauseCampaign) async throws -> Int64 {
        try await mutate {
            let (seq, _) = try campaignChanging(request.account, request.campaignID, .pause)
            try setStatus(seq, .paused, now: Timestamp.nowMilliseconds())
            note(.campaign("campaign.paused", campaign: seq))
            try recordIdempotentReply(Empty())
            return seq
        }
    }

    /// Cancels the campaign and every contact not called yet; returns the campaign's position.
    func cancelCampaign(_ request: CancelCampaign) async throws -> Int64 {
        try await mutate {
            let (seq, _) = try campaignChanging(request.account, request.campaignID, .cancel)
            let now = Timestamp.nowMilliseconds()
            try setStatus(seq, .canceled, now: now)
            note(.campaign("campaign.canceled", campaign: seq))
            try endPendingContacts(campaign: seq, as: .canceled, now: now)
            try recordIdempotentReply(Empty())
            return seq
        }
    }

    /// A canceled or ended campaign's contacts that are pending with no call in flight become
    /// `canceled` or `expired` (`ContactEvent.campaignCanceled`/`campaignEnded`, for all of them
    /// at once), each with its event.
    func endPendingContacts(campaign seq: Int64, as status: ContactStatus, now: Int64) throws {
        let changed = try changingContacts(to: status, campaign: seq, now: now) { batch in
            try database.cached("""
                UPDATE contacts SET status = ?1, updated_at = ?2, window_opens_at = NULL, next_attempt_at = NULL, event_batch = ?4
                WHERE campaign_seq = ?3 AND status = 'pending' AND call_state IS NULL
                """).bind(1, status.rawValue).bind(2, now).bind(3, seq).bind(4, batch).run()
        }
        try moveCounts(campaign: seq, from: .pending, to: status, count: changed, now: now)
    }

    func resumeCampaign(_ request: ResumeCampaign) async throws -> Int64 {
        try await mutate {
            let (seq, _) = try campaignChanging(request.account, request.campaignID, .resume)
            let now = Timestamp.nowMilliseconds()
            try setStatus(seq, .running, now: now)
            note(.campaign("campaign.resumed", campaign: seq))
            _ = try completeIfDone(seq, now: now)
            try recordIdempotentReply(Empty())
            return seq
        }
    }

    // MARK: Counters

    /// Moves `count` contacts between status counters of a campaign.
    func moveCounts(campaign: Int64, from: ContactStatus, to: ContactStatus, count: Int = 1, now: Int64) throws {
        guard from != to, count > 0 else { return }
        try database.cached("""
            UPDATE campaigns SET \(Self.counter(from)) = \(Self.counter(from)) - ?1, \(Self.counter(to)) = \(Self.counter(to)) + ?1,
            updated_at = ?2 WHERE seq = ?3
            """).bind(1, count).bind(2, now).bind(3, campaign).run()
    }

    static func counter(_ status: ContactStatus) -> String {
        switch status {
        case .pending: return "pending_count"
        case .dialed: return "dialed_count"
        case .completed: return "completed_count"
        case .failed: return "failed_count"
        case .skippedDNC: return "skipped_dnc_count"
        case .canceled: return "canceled_count"
        case .expired: return "expired_count"
        }
    }

    /// A running campaign with nothing pending or dialed is completed; so is a scheduled or
    /// paused one whose `end_at` has passed.
    func completeIfDone(_ campaign: Int64, now: Int64) throws -> Bool {
        try database.cached("""
            UPDATE campaigns SET status = 'completed', paused_reason = NULL, updated_at = ?1, status_version = status_version + 1
            WHERE seq = ?2 AND pending_count = 0 AND dialed_count = 0
            AND (status = 'running' OR (status IN ('scheduled', 'paused') AND end_at <= ?1))
            """).bind(1, now).bind(2, campaign).run()
        guard database.changes == 1 else { return false }
        note(.campaign("campaign.completed", campaign: campaign))
        return true
    }
}

extension CampaignRecord {
    /// What the campaign rules need to know of this campaign.
    var lifecycle: CampaignLifecycle.Campaign { CampaignLifecycle.Campaign(status: status, hasCallerID: callFromNumber != nil) }
}
