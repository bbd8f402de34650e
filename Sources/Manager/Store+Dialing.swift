import Dialing
import Foundation
import Protocol
import Runtime
import SQLite

/// What the dispatcher needs to place a running campaign's calls.
struct DispatchCampaign: Sendable, Equatable {
    let seq: Int64
    let id: String
    let account: String
    let agentID: String
    let from: String?
}

struct QueuedContact: Sendable, Equatable {
    let seq: Int64
    let phoneNumber: String
}

/// A call whose outcome is overdue.
struct OverdueCall: Sendable {
    let contactSeq: Int64
    let attempt: Int64
    let callState: String
    let requestUUID: String?
    let callUUID: String?
    let lastEventAt: Int64
}

/// What a write did to the dispatcher's world.
struct DispatchEffect: Sendable, Equatable {
    var applied = false
    /// A call that counted against the concurrency limit no longer does.
    var releasedSlot = false
    /// The campaign ran out of work and is now completed.
    var completedCampaign: Int64?
    /// The campaign was paused by the system (e.g. Plivo refused our credentials).
    var pausedCampaign: Int64?
    /// The contact was surely not called and should be offered again.
    var retry: QueuedContact?
    var retryCampaign: Int64?
}

enum BeginVerdict: Sendable, Equatable {
    case go
    case campaignNotRunning
    case contactNotPending
    case doNotCall(DispatchEffect)
}

/// Contact states in the database: `status` is the public one; `call_state` says whether a call
/// attempt is in flight: `placing` (Plivo request under way), `live` (accepted, no hangup yet),
/// `uncertain` (the request may have reached Plivo). Non-null means it counts as a live call.
extension Store {
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
        }
    }

    /// A running campaign with nothing pending or dialed is completed.
    func completeIfDone(_ campaign: Int64, now: Int64) throws -> Bool {
        try database.cached("""
            UPDATE campaigns SET status = 'completed', paused_reason = NULL, updated_at = ?, status_version = status_version + 1
            WHERE seq = ? AND status = 'running' AND pending_count = 0 AND dialed_count = 0
            """).bind(1, now).bind(2, campaign).run()
        return database.changes == 1
    }

    // MARK: Lifecycle

    /// The campaign for `command`, once the campaign rules allow it (a `Refusal` otherwise).
    private func campaignChanging(_ account: String, _ id: String, _ command: CampaignLifecycle.Command) throws -> (seq: Int64, record: CampaignRecord) {
        let (seq, record) = try queries.campaignRow(account: account, id: id)
        try CampaignLifecycle.check(command, on: record.lifecycle)
        return (seq, record)
    }

    /// Every status change bumps the version the dispatcher orders them by.
    private func setStatus(_ seq: Int64, _ status: CampaignStatus, now: Int64) throws {
        try database.cached("""
            UPDATE campaigns SET status = ?, paused_reason = CASE WHEN ? = 'running' THEN NULL ELSE paused_reason END,
            updated_at = ?, status_version = status_version + 1 WHERE seq = ?
            """).bind(1, status.rawValue).bind(2, status.rawValue).bind(3, now).bind(4, seq).run()
    }

    func startCampaign(_ request: StartCampaign) async throws -> (result: StartResult, seq: Int64) {
        try await mutate {
            let (seq, record) = try campaignChanging(request.account, request.campaignID, .start)
            let now = Timestamp.nowMilliseconds()
            try database.cached("""
                UPDATE contacts SET status = 'skipped_dnc', updated_at = ?1
                WHERE campaign_seq = ?2 AND status = 'pending'
                AND phone_number IN (SELECT phone_number FROM dnc WHERE account = ?3)
                """).bind(1, now).bind(2, seq).bind(3, request.account).run()
            let skipped = database.changes
            try moveCounts(campaign: seq, from: .pending, to: .skippedDNC, count: skipped, now: now)
            try setStatus(seq, .running, now: now)
            _ = try completeIfDone(seq, now: now)
            return (StartResult(queued: record.counts.pending - skipped, skippedDNC: skipped), seq)
        }
    }

    func pauseCampaign(_ request: PauseCampaign) async throws -> Int64 {
        try await mutate {
            let (seq, _) = try campaignChanging(request.account, request.campaignID, .pause)
            try setStatus(seq, .paused, now: Timestamp.nowMilliseconds())
            return seq
        }
    }

    func resumeCampaign(_ request: ResumeCampaign) async throws -> Int64 {
        try await mutate {
            let (seq, _) = try campaignChanging(request.account, request.campaignID, .resume)
            let now = Timestamp.nowMilliseconds()
            try setStatus(seq, .running, now: now)
            _ = try completeIfDone(seq, now: now)
            return seq
        }
    }

    // MARK: Dispatch

    func runningCampaigns() throws -> [Int64] {
        var campaigns: [Int64] = []
        try database.cached("SELECT seq FROM campaigns WHERE status = 'running' ORDER BY seq").forEachRow { campaigns.append($0.int64(0)) }
        return campaigns
    }

    /// A campaign's status now, with the version of its last status change (nil if it is gone).
    func dispatchState(_ seq: Int64) throws -> (campaign: DispatchCampaign, running: Bool, version: Int64)? {
        let statement = try database.cached("SELECT seq, id, account, agent_id, call_from_number, status, status_version FROM campaigns WHERE seq = ?")
        statement.bind(1, seq)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let campaign = DispatchCampaign(seq: statement.int64(0), id: statement.string(1), account: statement.string(2),
                                        agentID: statement.string(3), from: statement.optionalString(4))
        return (campaign, statement.string(5) == CampaignStatus.running.rawValue, statement.int64(6))
    }

    /// After a restart, placements in flight get a fresh clock, so their dialers have time to
    /// reconnect and report before they count as possibly placed.
    func restartPlacementClocks() async throws {
        try await mutate {
            try database.cached("UPDATE contacts SET last_event_at = ? WHERE call_state = 'placing'").bind(1, Timestamp.nowMilliseconds()).run()
        }
    }

    /// Pending contacts with no call in flight, in upload order, after position `after`.
    func pendingContacts(campaign: Int64, after: Int64, limit: Int) throws -> [QueuedContact] {
        var contacts: [QueuedContact] = []
        try database.cached("""
            SELECT seq, phone_number FROM contacts INDEXED BY contacts_by_campaign_status
            WHERE campaign_seq = ? AND status = 'pending' AND seq > ? AND call_state IS NULL ORDER BY seq LIMIT ?
            """).bind(1, campaign).bind(2, after).bind(3, limit)
            .forEachRow { contacts.append(QueuedContact(seq: $0.int64(0), phoneNumber: $0.string(1))) }
        return contacts
    }

    /// Calls that count against the concurrency limit (after a restart, those in flight before).
    func inFlightCount() throws -> Int {
        Int(try database.integer("SELECT count(*) FROM contacts WHERE call_state IS NOT NULL") ?? 0)
    }

    func maxAttempt() throws -> Int64 {
        try database.integer("SELECT coalesce(max(attempt), 0) FROM contacts") ?? 0
    }

    func isListed(account: String, number: String) throws -> Bool {
        let statement = try database.cached("SELECT 1 FROM dnc WHERE account = ? AND phone_number = ?")
        statement.bind(1, account).bind(2, number)
        defer { statement.reset() }
        return try statement.step()
    }

    /// The durable "go": after this commits the call may exist, so the contact is never offered again.
    func beginCall(contact: Int64, campaign: Int64, attempt: Int64, account: String, number: String) async throws -> BeginVerdict {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let state = try database.cached("SELECT status FROM campaigns WHERE seq = ?")
            state.bind(1, campaign)
            let running = try state.step() && state.string(0) == CampaignStatus.running.rawValue
            state.reset()
            guard running else { return .campaignNotRunning }
            if try isListed(account: account, number: number) {
                try database.cached("""
                    UPDATE contacts SET status = 'skipped_dnc', updated_at = ? WHERE seq = ? AND status = 'pending' AND call_state IS NULL
                    """).bind(1, now).bind(2, contact).run()
                guard database.changes == 1 else { return .contactNotPending }
                try moveCounts(campaign: campaign, from: .pending, to: .skippedDNC, now: now)
                var effect = DispatchEffect(applied: true)
                if try completeIfDone(campaign, now: now) { effect.completedCampaign = campaign }
                return .doNotCall(effect)
            }
            try database.cached("""
                UPDATE contacts SET call_state = 'placing', attempt = ?, last_event_at = ?, updated_at = ?,
                begun_version = (SELECT status_version FROM campaigns WHERE seq = ?)
                WHERE seq = ? AND status = 'pending' AND call_state IS NULL
                """).bind(1, attempt).bind(2, now).bind(3, now).bind(4, campaign).bind(5, contact).run()
            return database.changes == 1 ? .go : .contactNotPending
        }
    }

    /// The current state of the contact a call attempt belongs to; nil when the attempt is stale.
    private func attemptRow(contact: Int64, attempt: Int64) throws -> (campaign: Int64, status: ContactStatus, callState: String?, phone: String, heard: Bool)? {
        let statement = try database.cached("SELECT campaign_seq, status, call_state, phone_number, call_uuid IS NOT NULL FROM contacts WHERE seq = ? AND attempt = ?")
        statement.bind(1, contact).bind(2, attempt)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (statement.int64(0), ContactStatus(rawValue: statement.string(1)) ?? .pending, statement.optionalString(2), statement.string(3),
                statement.int(4) == 1)
    }

    func applyPlacement(_ report: ReportPlacement) async throws -> DispatchEffect {
        try await mutate {
            guard let contact = ContactID.parse(report.contactID), let row = try attemptRow(contact: contact, attempt: report.attempt) else {
                return DispatchEffect()
            }
            let now = Timestamp.nowMilliseconds()
            // A placement given up on as possibly placed, with no callback since, still takes the
            // dialer's late word for what happened.
            let presumed = row.callState == "uncertain" && !row.heard && row.status == .dialed
            guard row.callState == "placing" || presumed else {
                // A callback got here first; only fill in what it could not know.
                if case .accepted(let uuid) = report.outcome, !uuid.isEmpty {
                    try database.cached("UPDATE contacts SET request_uuid = coalesce(request_uuid, ?) WHERE seq = ?").bind(1, uuid).bind(2, contact).run()
                }
                return DispatchEffect()
            }
            let from = row.status
            var effect = DispatchEffect(applied: true)
            switch report.outcome {
            case .accepted(let uuid):
                try database.cached("""
                    UPDATE contacts SET status = 'dialed', call_state = 'live', request_uuid = ?, failure_detail = NULL,
                    dialed_at = coalesce(dialed_at, ?), last_event_at = ?, updated_at = ? WHERE seq = ?
                    """).bind(1, uuid.isEmpty ? nil : uuid).bind(2, now).bind(3, now).bind(4, now).bind(5, contact).run()
                try moveCounts(campaign: row.campaign, from: from, to: .dialed, now: now)
            case .uncertain(let reason):
                guard !presumed else { return DispatchEffect() }
                try database.cached("""
                    UPDATE contacts SET status = 'dialed', call_state = 'uncertain', failure_detail = ?, dialed_at = ?, last_event_at = ?, updated_at = ?
                    WHERE seq = ?
                    """).bind(1, reason).bind(2, now).bind(3, now).bind(4, now).bind(5, contact).run()
                try moveCounts(campaign: row.campaign, from: .pending, to: .dialed, now: now)
            case .refused(let status, let message):
                try finish(contact: contact, campaign: row.campaign, from: from, to: .failed, reason: "plivo_rejected",
                           detail: "HTTP \(status): \(message)", now: now, effect: &effect)
            case .skippedDNC:
                try finish(contact: contact, campaign: row.campaign, from: from, to: .skippedDNC, reason: nil, detail: nil, now: now, effect: &effect)
            case .notPlaced:
                try releaseToPending(contact: contact, campaign: row.campaign, from: from, now: now)
                effect.releasedSlot = true
                effect.retry = QueuedContact(seq: contact, phoneNumber: row.phone)
                effect.retryCampaign = row.campaign
            case .authRejected(let status, _):
                try releaseToPending(contact: contact, campaign: row.campaign, from: from, now: now)
                effect.releasedSlot = true
                // If the campaign runs on (resumed since), the contact is offered again.
                effect.retry = QueuedContact(seq: contact, phoneNumber: row.phone)
                effect.retryCampaign = row.campaign
                // Only if nothing changed the campaign's status since this placement began: a late
                // refusal from before a resume must not pause the resumed campaign.
                try database.cached("""
                    UPDATE campaigns SET status = 'paused', paused_reason = ?, updated_at = ?, status_version = status_version + 1
                    WHERE seq = ? AND status = 'running'
                    AND status_version = (SELECT begun_version FROM contacts WHERE seq = ?)
                    """).bind(1, "plivo_auth_failed: Plivo answered HTTP \(status); check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, then resume")
                    .bind(2, now).bind(3, row.campaign).bind(4, contact).run()
                if database.changes == 1 { effect.pausedCampaign = row.campaign }
            }
            return effect
        }
    }

    private func releaseToPending(contact: Int64, campaign: Int64, from: ContactStatus, now: Int64) throws {
        try database.cached("""
            UPDATE contacts SET status = 'pending', call_state = NULL, failure_detail = NULL, dialed_at = NULL, updated_at = ? WHERE seq = ?
            """).bind(1, now).bind(2, contact).run()
        try moveCounts(campaign: campaign, from: from, to: .pending, now: now)
    }

    /// Moves a contact to a final status, releasing its call slot and completing the campaign if done.
    private func finish(contact: Int64, campaign: Int64, from: ContactStatus, to: ContactStatus, reason: String?, detail: String?,
                        now: Int64, effect: inout DispatchEffect) throws {
        try database.cached("""
            UPDATE contacts SET status = ?, call_state = NULL, failure_reason = ?, failure_detail = coalesce(?, failure_detail),
            ended_at = coalesce(ended_at, ?), last_event_at = ?, updated_at = ? WHERE seq = ?
            """).bind(1, to.rawValue).bind(2, reason).bind(3, detail).bind(4, to == .skippedDNC ? nil : now as Int64?)
            .bind(5, now).bind(6, now).bind(7, contact).run()
        try moveCounts(campaign: campaign, from: from, to: to, now: now)
        metrics.results.increment(["reason": reason ?? "", "status": to.rawValue])
        effect.applied = true
        effect.releasedSlot = true
        if try completeIfDone(campaign, now: now) { effect.completedCampaign = campaign }
    }

    /// Applies a Plivo callback. Duplicates, late and unknown events change nothing.
    func applyCallEvent(_ event: CallEvent) async throws -> DispatchEffect {
        try await mutate {
            guard let contact = ContactID.parse(event.contactID), let row = try attemptRow(contact: contact, attempt: event.attempt),
                  row.status == .pending && row.callState == "placing" || row.status == .dialed
            else { return DispatchEffect() }
            let now = Timestamp.nowMilliseconds()
            var effect = DispatchEffect()
            try database.cached("""
                UPDATE contacts SET call_uuid = coalesce(call_uuid, ?), request_uuid = coalesce(request_uuid, ?), last_event_at = ?,
                answered_at = CASE WHEN ? THEN coalesce(answered_at, ?) ELSE answered_at END WHERE seq = ?
                """).bind(1, event.callUUID).bind(2, event.requestUUID).bind(3, now)
                .bind(4, event.kind == .answer ? 1 : 0).bind(5, now).bind(6, contact).run()
            switch event.kind {
            case .ring, .answer:
                if row.status == .pending {
                    try database.cached("""
                        UPDATE contacts SET status = 'dialed', call_state = 'live', dialed_at = coalesce(dialed_at, ?), updated_at = ? WHERE seq = ?
                        """).bind(1, now).bind(2, now).bind(3, contact).run()
                    try moveCounts(campaign: row.campaign, from: .pending, to: .dialed, now: now)
                } else if row.callState == "uncertain" {
                    try database.cached("UPDATE contacts SET call_state = 'live', updated_at = ? WHERE seq = ?").bind(1, now).bind(2, contact).run()
                }
                effect.applied = true
            case .hangup:
                let (status, reason) = Self.outcome(of: event.callStatus)
                try database.cached("""
                    UPDATE contacts SET hangup_cause = ?, hangup_cause_code = ?, duration = ?, bill_duration = ?,
                    dialed_at = coalesce(dialed_at, ?) WHERE seq = ?
                    """).bind(1, event.hangupCause).bind(2, event.hangupCauseCode.map(Int64.init)).bind(3, event.durationSeconds.map(Int64.init))
                    .bind(4, event.billDurationSeconds.map(Int64.init)).bind(5, now).bind(6, contact).run()
                try finish(contact: contact, campaign: row.campaign, from: row.status, to: status, reason: reason, detail: nil, now: now, effect: &effect)
                effect.releasedSlot = row.callState != nil
            }
            return effect
        }
    }

    /// Plivo's final CallStatus as our status and failure reason.
    static func outcome(of callStatus: String?) -> (ContactStatus, String?) {
        switch callStatus?.lowercased() {
        case "completed": return (.completed, nil)
        case "busy": return (.failed, "busy")
        case "no-answer": return (.failed, "no_answer")
        case "timeout": return (.failed, "timeout")
        case "cancel": return (.failed, "canceled")
        default: return (.failed, "call_failed")
        }
    }

    // MARK: Overdue outcomes

    func overdueCalls(lastEventBefore cutoff: Int64, limit: Int = 200) throws -> [OverdueCall] {
        var calls: [OverdueCall] = []
        try database.cached("""
            SELECT seq, attempt, call_state, request_uuid, call_uuid, last_event_at FROM contacts INDEXED BY contacts_in_flight
            WHERE call_state IS NOT NULL AND last_event_at < ? ORDER BY last_event_at LIMIT ?
            """).bind(1, cutoff).bind(2, limit)
            .forEachRow { row in
                calls.append(OverdueCall(contactSeq: row.int64(0), attempt: row.int64(1), callState: row.string(2),
                                         requestUUID: row.optionalString(3), callUUID: row.optionalString(4), lastEventAt: row.int64(5)))
            }
        return calls
    }

    /// A placement whose dialer never reported: the call may exist, so it waits for callbacks.
    func markUncertain(contact: Int64, attempt: Int64) async throws -> Bool {
        try await mutate {
            guard let row = try attemptRow(contact: contact, attempt: attempt), row.callState == "placing" else { return false }
            let now = Timestamp.nowMilliseconds()
            try database.cached("""
                UPDATE contacts SET status = 'dialed', call_state = 'uncertain', failure_detail = 'dialer lost before reporting',
                dialed_at = coalesce(dialed_at, ?), last_event_at = ?, updated_at = ? WHERE seq = ?
                """).bind(1, now).bind(2, now).bind(3, now).bind(4, contact).run()
            try moveCounts(campaign: row.campaign, from: .pending, to: .dialed, now: now)
            return true
        }
    }

    /// Gives up on an outcome that neither callbacks nor Plivo could tell.
    func failOutcomeUnknown(contact: Int64, attempt: Int64, detail: String) async throws -> DispatchEffect {
        try await mutate {
            guard let row = try attemptRow(contact: contact, attempt: attempt), row.callState != nil else { return DispatchEffect() }
            var effect = DispatchEffect()
            try finish(contact: contact, campaign: row.campaign, from: row.status, to: .failed, reason: "outcome_unknown", detail: detail,
                       now: Timestamp.nowMilliseconds(), effect: &effect)
            return effect
        }
    }

    func touch(contact: Int64) async throws {
        try await mutate {
            try database.cached("UPDATE contacts SET last_event_at = ? WHERE seq = ?").bind(1, Timestamp.nowMilliseconds()).bind(2, contact).run()
        }
    }

    // MARK: Do-Not-Call

    func addDNC(_ request: AddDNC) async throws -> (result: DNCAddResult, added: [String]) {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let insert = try database.cached("INSERT INTO dnc (account, phone_number, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            var added: [String] = []
            for number in request.numbers {
                insert.bind(1, request.account).bind(2, number).bind(3, now)
                try insert.run()
                if database.changes == 1 { added.append(number) }
            }
            return (DNCAddResult(added: added.count, alreadyListed: request.numbers.count - added.count), added)
        }
    }

    func removeDNC(_ request: RemoveDNC) async throws {
        try await mutate {
            try database.cached("DELETE FROM dnc WHERE account = ? AND phone_number = ?").bind(1, request.account).bind(2, request.number).run()
            guard database.changes == 1 else { throw RemoteError(.notFound, "\(request.number) is not on the Do-Not-Call list") }
        }
    }

    func dncSnapshot() throws -> [DNCUpdate] {
        var byAccount: [String: [String]] = [:]
        try database.cached("SELECT account, phone_number FROM dnc").forEachRow { byAccount[$0.string(0), default: []].append($0.string(1)) }
        return byAccount.map { DNCUpdate(account: $0.key, added: $0.value, removed: []) }
    }
}
