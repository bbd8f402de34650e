import Dialing
import Foundation
import Protocol
import Runtime
import SQLite
import Telephony

/// Contact states in the database: `status` is the public one; `call_state` (`CallState`) says
/// whether a call attempt is in flight; non-null means it counts as a live call. Every change of a
/// contact reads its row, asks `ContactLifecycle` what the event does, and writes the answer.
extension Store {
    // MARK: Dispatch

    func runningCampaigns() throws -> [Int64] {
        var campaigns: [Int64] = []
        try database.cached("SELECT seq FROM campaigns WHERE status = 'running' ORDER BY seq").forEachRow { campaigns.append($0.int64(0)) }
        return campaigns
    }

    /// A campaign's status now, with the version of its last status change (nil if it is gone).
    func dispatchState(_ seq: Int64) throws -> (campaign: DispatchCampaign, running: Bool, version: Int64)? {
        let statement = try database.cached("""
            SELECT seq, id, account, agent_id, call_from_number, status, status_version, max_concurrent_calls, calls_per_second,
            machine_detection, machine_detection_time FROM campaigns WHERE seq = ?
            """)
        statement.bind(1, seq)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let campaign = DispatchCampaign(seq: statement.int64(0), id: statement.string(1), account: statement.string(2),
                                        agentID: statement.string(3), from: statement.optionalString(4),
                                        maxConcurrentCalls: statement.optionalInt64(7).map(Int.init), callsPerSecond: statement.optionalDouble(8),
                                        machineDetection: statement.string(9) == "off" ? nil : statement.string(9),
                                        machineDetectionTime: statement.optionalInt64(10).map(Int.init))
        return (campaign, statement.string(5) == CampaignStatus.running.rawValue, statement.int64(6))
    }

    /// After a restart, placements in flight get a fresh clock, so their dialers have time to
    /// reconnect and report before they count as possibly placed.
    func restartPlacementClocks() async throws {
        try await mutate {
            try database.cached("UPDATE contacts SET last_event_at = ? WHERE call_state = ?").bind(1, Timestamp.nowMilliseconds())
                .bind(2, CallState.placing.rawValue).run()
        }
    }

    /// Pending contacts with no call in flight, in upload order, after position `after`: those
    /// whose calling window is open now. The others are marked with when it opens (and not
    /// returned); the load says when the first of them does.
    func pendingContacts(campaign: Int64, after: Int64, limit: Int) async throws -> ContactLoad {
        let now = Timestamp.nowMilliseconds()
        var load = ContactLoad()
        var waiting: [(seq: Int64, opensAt: Int64)] = []
        let schedules = try campaignSchedules(campaign)
        try database.cached("""
            SELECT seq, phone_number, timezone FROM contacts INDEXED BY contacts_by_campaign_status
            WHERE campaign_seq = ? AND status = 'pending' AND seq > ? AND call_state IS NULL
            AND (window_opens_at IS NULL OR window_opens_at <= ?3) AND (next_attempt_at IS NULL OR next_attempt_at <= ?3) ORDER BY seq LIMIT ?4
            """).bind(1, campaign).bind(2, after).bind(3, now).bind(4, limit)
            .forEachRow { row in
                load.scanned += 1
                load.lastPosition = row.int64(0)
                let contact = QueuedContact(seq: row.int64(0), phoneNumber: row.string(1))
                if let opensAt = schedules.waitsUntil(number: contact.phoneNumber, contactZone: row.optionalString(2), now: now) {
                    waiting.append((contact.seq, opensAt))
                    load.windowOpensAt = min(load.windowOpensAt ?? opensAt, opensAt)
                } else {
                    load.contacts.append(contact)
                }
            }
        if !waiting.isEmpty {
            try await mutate {
                for contact in waiting { try markWaiting(contact.seq, until: contact.opensAt) }
            }
        }
        // Contacts marked earlier (before a pause, or a restart), and those waiting for a redial,
        // are not read again until their window opens or their redial is due: the load says when
        // the first of them is, so the queue is read again then.
        for sql in Self.firstWaitingSQL {
            let first = try database.cached(sql)
            first.bind(1, campaign).bind(2, now)
            if try first.step(), let opensAt = first.optionalInt64(0) { load.windowOpensAt = min(load.windowOpensAt ?? opensAt, opensAt) }
            first.reset()
        }
        return load
    }

    static let firstWaitingSQL = [
        """
        SELECT min(window_opens_at) FROM contacts INDEXED BY contacts_waiting_window
        WHERE campaign_seq = ? AND window_opens_at > ? AND status = 'pending'
        """,
        """
        SELECT min(next_attempt_at) FROM contacts INDEXED BY contacts_waiting_redial
        WHERE campaign_seq = ? AND next_attempt_at > ? AND status = 'pending'
        """,
    ]

    /// The campaign's calling window and zone, to judge its contacts by.
    func campaignSchedules(_ campaign: Int64) throws -> CampaignSchedules { try campaignForCalls(campaign).schedules }

    /// One read of the campaign for a call: whether it is running, and its window and zone.
    private func campaignForCalls(_ campaign: Int64) throws -> (running: Bool, schedules: CampaignSchedules) {
        let statement = try database.cached("SELECT status, calling_window, timezone, end_at FROM campaigns WHERE seq = ?")
        statement.bind(1, campaign)
        defer { statement.reset() }
        guard try statement.step() else { return (false, CampaignSchedules(window: defaultWindow, zone: nil)) }
        let window = (try? CallingWindow.parse(text: statement.string(1)).get()) ?? defaultWindow
        // Past its end_at a campaign places nothing, even before its end has been acted on.
        let running = statement.string(0) == CampaignStatus.running.rawValue && (statement.optionalInt64(3) ?? .max) > Timestamp.nowMilliseconds()
        return (running, CampaignSchedules(window: window, zone: statement.optionalString(2)))
    }

    /// Voicemail detection's verdict, with the contact and its attempt: `machine` or `human` when
    /// it tells; `unknown` at the hangup of a call it listened to without telling.
    private func recordAnsweredBy(_ event: CallEvent, contact: Int64) throws {
        let verdict: String?
        switch event.kind {
        case .machine: verdict = event.machine == true ? "machine" : "human"
        case .hangup: verdict = "unknown"
        case .ring, .answer: verdict = nil
        }
        guard let verdict else { return }
        // `unknown` only where detection was asked for and nothing was said yet.
        let onlyIfUnset = event.kind == .hangup ? 1 : 0
        for sql in Self.answeredBySQL {
            try database.cached(sql).bind(1, verdict).bind(2, onlyIfUnset).bind(3, contact).bind(4, event.attempt).run()
        }
    }

    static let answeredBySQL = [
        """
        UPDATE contacts SET answered_by = ?1 WHERE seq = ?3 AND attempt = ?4 AND (?2 = 0 OR answered_by IS NULL)
        AND (?2 = 0 OR (SELECT machine_detection FROM campaigns WHERE campaigns.seq = contacts.campaign_seq) != 'off')
        """,
        """
        UPDATE attempts SET answered_by = ?1 WHERE contact_seq = ?3 AND attempt = ?4 AND (?2 = 0 OR answered_by IS NULL)
        AND (?2 = 0 OR (SELECT p.machine_detection FROM campaigns p JOIN contacts c ON c.campaign_seq = p.seq WHERE c.seq = ?3) != 'off')
        """,
    ]

    /// The campaign's retry policy (none if it has none, or it is gone).
    private func retryPolicy(_ campaign: Int64) throws -> RetryPolicy {
        let statement = try database.cached("SELECT retry_policy FROM campaigns WHERE seq = ?")
        statement.bind(1, campaign)
        defer { statement.reset() }
        return try statement.step() ? RetryPolicy(text: statement.string(0)) ?? .none : .none
    }

    /// What ends a pending contact of a campaign that will not call it: its cancel, or its end.
    private func campaignEnding(_ campaign: Int64, now: Int64) throws -> ContactEvent? {
        let statement = try database.cached("SELECT status, end_at FROM campaigns WHERE seq = ?")
        statement.bind(1, campaign)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        if statement.string(0) == CampaignStatus.canceled.rawValue { return .campaignCanceled }
        if let endAt = statement.optionalInt64(1), endAt <= now { return .campaignEnded }
        return nil
    }

    /// A pending contact waits for its calling window until `opensAt`.
    private func markWaiting(_ contact: Int64, until opensAt: Int64) throws {
        try database.cached("UPDATE contacts SET window_opens_at = ? WHERE seq = ? AND status = 'pending'").bind(1, opensAt).bind(2, contact).run()
    }

    /// Calls that count against the concurrency limits (after a restart, those in flight
    /// before), per campaign with its account.
    func inFlightByCampaign() throws -> [(campaign: Int64, account: String, calls: Int)] {
        var inFlight: [(campaign: Int64, account: String, calls: Int)] = []
        try database.cached("""
            SELECT c.campaign_seq, p.account, count(*) FROM contacts c INDEXED BY contacts_in_flight JOIN campaigns p ON p.seq = c.campaign_seq
            WHERE c.call_state IS NOT NULL GROUP BY c.campaign_seq
            """).forEachRow { inFlight.append(($0.int64(0), $0.string(1), $0.int(2))) }
        return inFlight
    }

    func maxAttempt() throws -> Int64 {
        try database.integer("SELECT coalesce(max(attempt), 0) FROM contacts") ?? 0
    }

    /// The durable "go": after this commits the call may exist, so the contact is never offered again.
    func beginCall(contact: Int64, campaign: Int64, attempt: Int64, account: String, number: String) async throws -> BeginVerdict {
        try await mutate {
            let now = Timestamp.nowMilliseconds()
            let (running, schedules) = try campaignForCalls(campaign)
            guard running else { return .campaignNotRunning }
            // The window is judged at the go-ahead's commit, as the DNC list is: whatever was
            // true when the contact was queued, a call outside the callee's hours never begins.
            let contactZone = try database.cached("SELECT timezone FROM contacts WHERE seq = ?")
            contactZone.bind(1, contact)
            let zone = try contactZone.step() ? contactZone.optionalString(0) : nil
            contactZone.reset()
            let schedule = schedules.schedule(number: number, contactZone: zone)
            if let opensAt = schedules.waitsUntil(schedule, now: now) {
                try markWaiting(contact, until: opensAt)
                return .outsideWindow(opensInMilliseconds: max(1, opensAt - now))
            }
            let event: ContactEvent = try isListed(account: account, number: number) ? .dncListed : .begin(attempt: attempt)
            let effect = try change(contact, by: event, now: now)
            guard effect.applied else { return .contactNotPending }
            try database.cached("""
                UPDATE contacts SET window_opens_at = NULL, next_attempt_at = NULL
                WHERE seq = ? AND (window_opens_at IS NOT NULL OR next_attempt_at IS NOT NULL)
                """).bind(1, contact).run()
            if event != .dncListed {
                try recordDecision(contact: contact, attempt: attempt, account: account, schedule: schedule, now: now)
                try countAttempt(campaign: campaign, now: now)
            }
            return event == .dncListed ? .doNotCall(effect) : .go
        }
    }

    /// A contact's row as the rules read it.
    private struct ContactRow {
        let campaign: Int64
        let phone: String
        let state: ContactState
    }

    private func contactRow(_ contact: Int64) throws -> ContactRow? {
        let statement = try database.cached("""
            SELECT campaign_seq, phone_number, status, call_state, attempt, call_uuid IS NOT NULL, attempt_count, placement_uncertain,
            answered_by IS 'machine' FROM contacts WHERE seq = ?
            """)
        statement.bind(1, contact)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let state = ContactState(status: ContactStatus(rawValue: statement.string(2)) ?? .pending,
                                 callState: statement.optionalString(3).flatMap(CallState.init(rawValue:)),
                                 attempt: statement.optionalInt64(4), heard: statement.int(5) == 1, attemptsMade: statement.int(6),
                                 placementUncertain: statement.int(7) == 1, answeredByMachine: statement.int(8) == 1)
        return ContactRow(campaign: statement.int64(0), phone: statement.string(1), state: state)
    }

    /// Why this call was allowed, written in the go-ahead's transaction.
    private func recordDecision(contact: Int64, attempt: Int64, account: String, schedule: CalleeSchedule?, now: Int64) throws {
        let list = try dncVersion(account)
        var localTime: String?
        if let schedule {
            // The UTC form shifted by the zone's offset then, with the offset in place of `Z`
            // (a formatter per call would cost more than the rest of the go-ahead).
            let offset = schedule.zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(now) / 1000))
            let shifted = Timestamp.rfc3339(millisecondsSinceEpoch: now + Int64(offset) * 1000).dropLast()
            let sign = offset < 0 ? "-" : "+"
            localTime = shifted + sign + String(format: "%02d:%02d", abs(offset) / 3600, abs(offset) % 3600 / 60)
        }
        try database.cached("""
            INSERT OR REPLACE INTO attempts (contact_seq, attempt, begun_at, dnc_version, dnc_entries, local_time, timezone, timezone_source,
            calling_window, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'placing')
            """).bind(1, contact).bind(2, attempt).bind(3, now).bind(4, list.version).bind(5, list.entries).bind(6, localTime)
            .bind(7, schedule?.zone.identifier).bind(8, schedule?.source.rawValue).bind(9, schedule?.window.text).run()
    }

    /// Reads the contact, applies `event` and writes the resulting state, guarded by the state read.
    /// The SQL only reads and writes; what changes is `ContactLifecycle`'s decision.
    private func change(_ contact: Int64, by event: ContactEvent, now: Int64) throws -> DispatchEffect {
        guard let row = try contactRow(contact) else { return DispatchEffect() }
        // Only a hangup can be redialed: the campaign's policy is read for those alone.
        var policy = RetryPolicy.none
        if case .callback(let callback) = event, callback.kind == .hangup { policy = try retryPolicy(row.campaign) }
        let transition = ContactLifecycle.apply(event, to: row.state, policy: policy)
        guard let next = transition.next else {
            if case .fillIfMissing(let uuid) = transition.requestUUID {
                try database.cached("UPDATE contacts SET request_uuid = coalesce(request_uuid, ?) WHERE seq = ?").bind(1, uuid).bind(2, contact).run()
            }
            return DispatchEffect()
        }
        let stamps = ContactLifecycle.stamps(transition, for: event, from: row.state)
        let detail: (Int64, String?) = switch transition.detail {
        case .keep: (0, nil)
        case .clear: (1, nil)
        case .set(let text): (2, text)
        }
        let requestUUID: (Int64, String?) = switch transition.requestUUID {
        case .keep: (0, nil)
        case .set(let uuid): (1, uuid)
        case .fillIfMissing(let uuid): (2, uuid)
        }
        let dialedAt: Int64 = switch stamps.dialedAt {
        case .keep: 0
        case .stampIfMissing: 1
        case .clear: 2
        }
        let begins: Int64 = if case .begin = event { 1 } else { 0 }
        try database.cached("""
            UPDATE contacts SET status = ?1, call_state = ?2, attempt = ?3, attempt_count = ?21, placement_uncertain = ?22, next_attempt_at = ?23,
            failure_reason = CASE WHEN ?4 THEN ?5 ELSE failure_reason END,
            failure_detail = CASE ?6 WHEN 0 THEN failure_detail WHEN 1 THEN NULL ELSE ?7 END,
            request_uuid = CASE ?8 WHEN 0 THEN request_uuid WHEN 1 THEN ?9 ELSE coalesce(request_uuid, ?9) END,
            dialed_at = CASE ?10 WHEN 0 THEN dialed_at WHEN 1 THEN coalesce(dialed_at, ?11) ELSE NULL END,
            ended_at = CASE WHEN ?12 THEN coalesce(ended_at, ?11) ELSE ended_at END,
            last_event_at = CASE WHEN ?13 THEN ?11 ELSE last_event_at END,
            updated_at = CASE WHEN ?14 THEN ?11 ELSE updated_at END,
            begun_version = CASE WHEN ?15 THEN (SELECT status_version FROM campaigns WHERE seq = ?16) ELSE begun_version END
            WHERE seq = ?17 AND status = ?18 AND call_state IS ?19 AND attempt IS ?20
            """)
            .bind(1, next.status.rawValue).bind(2, next.callState?.rawValue).bind(3, next.attempt)
            .bind(4, transition.endsAttempt || transition.redialAfterSeconds != nil ? 1 : 0).bind(5, transition.failureReason?.rawValue)
            .bind(6, detail.0).bind(7, detail.1).bind(8, requestUUID.0).bind(9, requestUUID.1)
            .bind(10, dialedAt).bind(11, now).bind(12, stamps.endedAt ? 1 : 0).bind(13, stamps.lastEventAt ? 1 : 0)
            .bind(14, stamps.updatedAt ? 1 : 0).bind(15, begins).bind(16, row.campaign)
            .bind(17, contact).bind(18, row.state.status.rawValue).bind(19, row.state.callState?.rawValue).bind(20, row.state.attempt)
            .bind(21, next.attemptsMade).bind(22, next.placementUncertain ? 1 : 0)
            .bind(23, transition.redialAfterSeconds.map { now + Int64($0) * 1000 })
            .run()
        // Read and written in one transaction of the one writer: the guard cannot fail unless the
        // row changed under us, and then nothing was written.
        guard database.changes == 1 else { return DispatchEffect() }
        var effect = DispatchEffect(transition: transition, contact: QueuedContact(seq: contact, phoneNumber: row.phone), campaign: row.campaign)
        if let type = Self.eventType(from: row.state.status, to: next.status, redial: transition.redialAfterSeconds != nil) {
            note(.contact(type, contact: contact, campaign: row.campaign))
        }
        // The attempt's outcome, as it stands after this change.
        if let attempt = next.attempt ?? row.state.attempt, event != .dncListed {
            let outcome = if case .queuedCallCanceled = event {
                "canceled_at_plivo"
            } else if transition.requeues {
                "not_placed"
            } else if transition.redialAfterSeconds != nil {
                ContactStatus.failed.rawValue
            } else {
                next.status.rawValue
            }
            let ended = transition.endsAttempt || transition.redialAfterSeconds != nil
            let attemptRequestUUID: String? = switch transition.requestUUID {
            case .set(let uuid): uuid
            case .fillIfMissing(let uuid): uuid
            case .keep: nil
            }
            try database.cached("""
                UPDATE attempts SET outcome = ?1, failure_reason = CASE WHEN ?2 THEN ?3 ELSE failure_reason END,
                ended_at = CASE WHEN ?4 THEN ?5 ELSE ended_at END, request_uuid = coalesce(request_uuid, ?6) WHERE contact_seq = ?7 AND attempt = ?8
                """).bind(1, outcome).bind(2, ended ? 1 : 0).bind(3, transition.failureReason?.rawValue)
                .bind(4, stamps.endedAt || transition.requeues || transition.redialAfterSeconds != nil ? 1 : 0).bind(5, now)
                .bind(6, attemptRequestUUID).bind(7, contact).bind(8, attempt).run()
        }
        if let move = transition.counters { try moveCounts(campaign: row.campaign, from: move.from, to: move.to, now: now) }
        if transition.counters?.to == .failed, let reason = transition.failureReason { try countFailure(campaign: row.campaign, reason: reason.rawValue) }
        if transition.endsAttempt {
            metrics.results.increment(["reason": transition.failureReason?.rawValue ?? "", "status": next.status.rawValue])
        }
        if transition.pausesCampaign, case .placement(_, .authRejected(let status, _)) = event {
            // Only if nothing changed the campaign's status since this placement began: a late
            // refusal from before a resume must not pause the resumed campaign.
            try database.cached("""
                UPDATE campaigns SET status = 'paused', paused_reason = ?, updated_at = ?, status_version = status_version + 1
                WHERE seq = ? AND status = 'running'
                AND status_version = (SELECT begun_version FROM contacts WHERE seq = ?)
                """).bind(1, "plivo_auth_failed: Plivo answered HTTP \(status); check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, then resume")
                .bind(2, now).bind(3, row.campaign).bind(4, contact).run()
            if database.changes == 1 {
                effect.pausedCampaign = row.campaign
                note(.campaign("campaign.paused", campaign: row.campaign))
            }
        }
        // A canceled or ended campaign's contacts are never pending again: one surely not called
        // (a late "not placed", a queued call canceled for a pause before) or to be redialed is
        // canceled or expired.
        if transition.requeues || transition.redialAfterSeconds != nil, let ending = try campaignEnding(row.campaign, now: now) {
            _ = try change(contact, by: ending, now: now)
        }
        if transition.reachesFinalStatus, try completeIfDone(row.campaign, now: now) { effect.completedCampaign = row.campaign }
        return effect
    }

    func applyPlacement(_ report: ReportPlacement) async throws -> DispatchEffect {
        try await mutate {
            guard let contact = ContactID.parse(report.contactID) else { return DispatchEffect() }
            return try change(contact, by: .placement(attempt: report.attempt, outcome: report.outcome), now: Timestamp.nowMilliseconds())
        }
    }

    /// Applies a Plivo callback. Duplicates, late and unknown events change nothing.
    func applyCallEvent(_ event: CallEvent) async throws -> DispatchEffect {
        try await mutate {
            guard let contact = ContactID.parse(event.contactID) else { return DispatchEffect() }
            let now = Timestamp.nowMilliseconds()
            let effect = try change(contact, by: .callback(event), now: now)
            guard effect.applied else { return effect }
            if event.kind == .answer, let campaign = effect.campaign {
                note(.contact("contact.answered", contact: contact, campaign: campaign))
                try countAnswer(campaign: campaign, contact: contact, attempt: event.attempt, now: now)
            }
            if event.kind == .hangup, let campaign = effect.campaign {
                try countHangup(campaign: campaign, event, voicemail: effect.transition.failureReason == .voicemail)
            }
            // What the callback tells beyond the contact's state: kept with its attempt (its answer
            // time is `countAnswer`'s), and with the contact as its latest call, unless that call
            // is over and a redial is coming.
            try database.cached("""
                UPDATE attempts SET request_uuid = coalesce(request_uuid, ?1), call_uuid = coalesce(call_uuid, ?2),
                hangup_cause = coalesce(?3, hangup_cause), hangup_cause_code = coalesce(?4, hangup_cause_code), duration = coalesce(?5, duration)
                WHERE contact_seq = ?6 AND attempt = ?7
                """).bind(1, event.requestUUID).bind(2, event.callUUID).bind(3, event.hangupCause)
                .bind(4, event.hangupCauseCode.map(Int64.init)).bind(5, event.durationSeconds.map(Int64.init))
                .bind(6, contact).bind(7, event.attempt).run()
            try recordAnsweredBy(event, contact: contact)
            if effect.transition.redialAfterSeconds != nil {
                try database.cached("""
                    UPDATE contacts SET request_uuid = NULL, call_uuid = NULL, answered_at = NULL, ended_at = NULL, hangup_cause = NULL,
                    hangup_cause_code = NULL, duration = NULL, bill_duration = NULL, answered_by = NULL WHERE seq = ?
                    """).bind(1, contact).run()
                return effect
            }
            try database.cached("""
                UPDATE contacts SET call_uuid = coalesce(call_uuid, ?),
                answered_at = CASE WHEN ? THEN coalesce(answered_at, ?) ELSE answered_at END WHERE seq = ?
                """).bind(1, event.callUUID).bind(2, event.kind == .answer ? 1 : 0).bind(3, now).bind(4, contact).run()
            if event.kind == .hangup {
                try database.cached("""
                    UPDATE contacts SET hangup_cause = ?, hangup_cause_code = ?, duration = ?, bill_duration = ? WHERE seq = ?
                    """).bind(1, event.hangupCause).bind(2, event.hangupCauseCode.map(Int64.init)).bind(3, event.durationSeconds.map(Int64.init))
                    .bind(4, event.billDurationSeconds.map(Int64.init)).bind(5, contact).run()
            }
            return effect
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
                calls.append(OverdueCall(contactSeq: row.int64(0), attempt: row.int64(1), callState: CallState(rawValue: row.string(2)),
                                         requestUUID: row.optionalString(3), callUUID: row.optionalString(4), lastEventAt: row.int64(5)))
            }
        return calls
    }

    /// A placement whose dialer never reported: the call may exist, so it waits for callbacks.
    func markUncertain(contact: Int64, attempt: Int64) async throws -> Bool {
        try await mutate {
            try change(contact, by: .dialerLost(attempt: attempt), now: Timestamp.nowMilliseconds()).applied
        }
    }

    /// Gives up on an outcome that neither callbacks nor Plivo could tell.
    func failOutcomeUnknown(contact: Int64, attempt: Int64, detail: String) async throws -> DispatchEffect {
        try await mutate {
            try change(contact, by: .outcomeUnknown(attempt: attempt, detail: detail), now: Timestamp.nowMilliseconds())
        }
    }

    // MARK: Queued calls

    /// Calls Plivo holds queued that must not go out: their number is on their account's
    /// Do-Not-Call list, or their campaign is no longer running.
    func queuedCallsToStop() throws -> [QueuedCallToStop] {
        var rows: [(call: QueuedCallToStop, account: String, number: String, status: CampaignStatus?)] = []
        try database.cached("""
            SELECT c.seq, c.attempt, c.request_uuid, c.phone_number, p.account, p.status FROM contacts c INDEXED BY contacts_in_flight
            JOIN campaigns p ON p.seq = c.campaign_seq WHERE c.call_state = ? AND c.request_uuid IS NOT NULL
            """).bind(1, CallState.queued.rawValue)
            .forEachRow { row in
                let call = QueuedCallToStop(contactSeq: row.int64(0), attempt: row.int64(1), requestUUID: row.string(2), reason: .campaignStopped)
                rows.append((call, row.string(4), row.string(3), CampaignStatus(rawValue: row.string(5))))
            }
        return try rows.compactMap { row in
            let reason: QueuedCallStop
            if try isListed(account: row.account, number: row.number) {
                reason = .doNotCall
            } else if let status = row.status, status != .running {
                reason = status == .canceled ? .campaignCanceled : .campaignStopped
            } else {
                return nil
            }
            return QueuedCallToStop(contactSeq: row.call.contactSeq, attempt: row.call.attempt, requestUUID: row.call.requestUUID, reason: reason)
        }
    }

    /// Plivo's answer to a cancel, as the rules read it (`queuedCallCanceled`, `queuedCallLeftQueue`).
    func applyQueuedCallAnswer(contact: Int64, _ event: ContactEvent) async throws -> DispatchEffect {
        try await mutate { try change(contact, by: event, now: Timestamp.nowMilliseconds()) }
    }

    func touch(contact: Int64) async throws {
        try await mutate {
            try database.cached("UPDATE contacts SET last_event_at = ? WHERE seq = ?").bind(1, Timestamp.nowMilliseconds()).bind(2, contact).run()
        }
    }
}

/// A load of a campaign's pending contacts: those callable now, how many rows were read and the
/// last one's position (the queue moves past all of them), and when the first contact left
/// waiting for its window can be called.
struct ContactLoad: Sendable {
    var contacts: [QueuedContact] = []
    var scanned = 0
    var lastPosition: Int64?
    var windowOpensAt: Int64?
}

/// A campaign's window and zone, applied to each callee's number and own zone.
struct CampaignSchedules {
    let window: CallingWindow
    let zone: String?

    /// The callee's zone and window, if their zone can be told.
    func schedule(number: String, contactZone: String?) -> CalleeSchedule? {
        try? CalleeSchedule.of(number: number, contactZone: contactZone, campaignZone: zone, campaignWindow: window).get()
    }

    /// Nil when the callee may be called at `now` (ms since the epoch); else when they may.
    func waitsUntil(number: String, contactZone: String?, now: Int64) -> Int64? {
        waitsUntil(schedule(number: number, contactZone: contactZone), now: now)
    }

    /// The same, for a callee's schedule already made (nil: their zone cannot be told).
    func waitsUntil(_ schedule: CalleeSchedule?, now: Int64) -> Int64? {
        // A callee whose zone cannot be told (a contact uploaded after the start that checks
        // this), or whose window never opens, is looked at again in an hour (a PUT may fix it).
        let recheck = now + 3_600_000
        guard let schedule else { return recheck }
        guard let opening = schedule.waitsUntil(Date(timeIntervalSince1970: Double(now) / 1000)) else { return nil }
        return opening == .distantFuture ? recheck : Int64((opening.timeIntervalSince1970 * 1000).rounded(.up))
    }
}
