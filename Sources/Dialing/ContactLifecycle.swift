import Protocol

// The contact/call state machine as a value: the store reads a contact's row into a
// `ContactState`, asks `ContactLifecycle.apply` what an event does to it, and writes the answer.
// No I/O and no clock here; timestamps, SQL and the campaign's own status stay with the store.

/// Whether a call attempt is in flight, as stored in `contacts.call_state`.
///
/// "No call in flight" (the column's NULL) is `CallState?.none` rather than a case of its own, so
/// `callState != nil` reads exactly like the SQL `call_state IS NOT NULL`: the calls that count
/// against the concurrency limit.
public enum CallState: String, Sendable, CaseIterable {
    /// Begun: the dialer was (or is about to be) told "go"; its Plivo request may be under way.
    case placing
    /// Plivo accepted the call, or a callback proved it exists; no hangup yet.
    case live
    /// Plivo accepted the request into its call queue (the account's calls per second were
    /// spent): the call has not started, and while it has not it can still be canceled.
    case queued
    /// The request may have reached Plivo (or its dialer was lost before reporting): the call may
    /// exist, so the contact waits for callbacks or a lookup.
    case uncertain
}

/// Why a contact failed (`contacts.failure_reason`).
public enum FailureReason: String, Sendable, CaseIterable {
    case busy
    case noAnswer = "no_answer"
    case timeout
    case callFailed = "call_failed"
    case canceled
    case plivoRejected = "plivo_rejected"
    case outcomeUnknown = "outcome_unknown"
    /// An answering machine took the call (voicemail detection).
    case voicemail
    /// Never dialed: its stored number is not a valid phone number any more (numbers stored before
    /// they were validated per country).
    case invalidNumber = "invalid_number"

    /// Plivo's hangup cause when machine detection in `hangup` mode ended the call.
    public static let machineDetectedCode = 9100

    /// Plivo's final `CallStatus` as our status and failure reason: `completed` completes the
    /// contact, anything else (missing or unknown included) fails it.
    public static func hangup(callStatus: String?) -> (status: ContactStatus, reason: FailureReason?) {
        switch callStatus?.lowercased() {
        case "completed": return (.completed, nil)
        case "busy": return (.failed, .busy)
        case "no-answer": return (.failed, .noAnswer)
        case "timeout": return (.failed, .timeout)
        case "cancel": return (.failed, .canceled)
        default: return (.failed, .callFailed)
        }
    }
}

/// What the rules read of a contact's row.
public struct ContactState: Sendable, Equatable {
    public var status: ContactStatus
    /// nil: no call in flight.
    public var callState: CallState?
    /// The attempt last begun (`contacts.attempt`); events about any other attempt are stale.
    public var attempt: Int64?
    /// A callback has told us Plivo's `CallUUID` (`call_uuid IS NOT NULL`). The column is not
    /// cleared when a contact is released to pending, so this is "ever heard", not per attempt.
    public var heard: Bool
    /// Attempts that reached Plivo or may have, the one in flight included (`contacts.attempt_count`):
    /// what the retry policy counts.
    public var attemptsMade: Int
    /// The attempt in flight was at some point possibly placed without our knowing (an uncertain
    /// report, a lost dialer): it is never redialed.
    public var placementUncertain: Bool
    /// Voicemail detection said a machine answered the call in flight (`answered_by = 'machine'`).
    public var answeredByMachine: Bool

    public init(status: ContactStatus, callState: CallState? = nil, attempt: Int64? = nil, heard: Bool = false, attemptsMade: Int = 0,
                placementUncertain: Bool = false, answeredByMachine: Bool = false) {
        self.answeredByMachine = answeredByMachine
        self.status = status
        self.callState = callState
        self.attempt = attempt
        self.heard = heard
        self.attemptsMade = attemptsMade
        self.placementUncertain = placementUncertain
    }

    /// A dialer's report is still taken while the call is being placed, and also after the
    /// manager presumed the placement (its dialer was lost) as long as no callback has come since:
    /// then the dialer's word is the best there is.
    var takesReport: Bool { callState == .placing || isPresumedPlacement }

    /// Given up on as possibly placed (`dialerLost`, or an uncertain report), with no callback since.
    var isPresumedPlacement: Bool { callState == .uncertain && !heard && status == .dialed }
}

/// Something that happens to a contact's call attempt.
public enum ContactEvent: Sendable, Equatable {
    /// A dialer asks to place the call as `attempt` (the durable "go"), and the number is not listed.
    /// Whether the campaign is running is the store's check, before the contact's.
    case begin(attempt: Int64)
    /// The begin found the number on the account's Do-Not-Call list.
    case dncListed
    /// A dialer's report of how its Plivo request for `attempt` ended.
    case placement(attempt: Int64, outcome: PlacementOutcome)
    /// A verified Plivo callback (or a lookup's answer, as a hangup).
    case callback(CallEvent)
    /// The dialer never reported within the placement timeout: the call may exist.
    case dialerLost(attempt: Int64)
    /// Neither callbacks nor Plivo could tell what became of the call.
    case outcomeUnknown(attempt: Int64, detail: String)
    /// Plivo confirmed it canceled the queued request of `attempt`: the call never started.
    case queuedCallCanceled(attempt: Int64, because: QueuedCallStop)
    /// Plivo no longer holds the request of `attempt` queued: it started (callbacks will tell).
    case queuedCallLeftQueue(attempt: Int64)
    /// Its campaign was canceled: a contact not being called will never be.
    case campaignCanceled
    /// Its campaign's `end_at` has passed: a contact not being called will never be.
    case campaignEnded
}

/// Why a call Plivo holds queued must not go out.
public enum QueuedCallStop: String, Sendable, CaseIterable {
    /// Its campaign is no longer running (paused): the contact is pending again.
    case campaignStopped = "campaign_stopped"
    /// Its campaign was canceled: the contact is canceled.
    case campaignCanceled = "campaign_canceled"
    /// Its number was put on the account's Do-Not-Call list: the contact is skipped.
    case doNotCall = "do_not_call"
}

/// How the contact's counters in the campaign move (`pending_count` → `dialed_count`...).
public struct CounterMove: Sendable, Equatable {
    public var from: ContactStatus
    public var to: ContactStatus

    public init(from: ContactStatus, to: ContactStatus) {
        self.from = from
        self.to = to
    }
}

/// What becomes of `contacts.failure_detail`.
public enum DetailChange: Sendable, Equatable {
    case keep
    case clear
    case set(String)
}

/// What becomes of `contacts.request_uuid` (Plivo's id for our request).
public enum RequestUUIDChange: Sendable, Equatable {
    case keep
    /// Overwritten (nil: cleared), as an accepting report knows best.
    case set(String?)
    /// Written only if none is known yet (`coalesce`).
    case fillIfMissing(String)
}

/// What an event does. `next == nil` means it was stale, a duplicate or otherwise changed nothing
/// of the contact's state (the store acknowledges it as not applied); `requestUUID` may still be
/// filled in then.
public struct Transition: Sendable, Equatable {
    /// The contact afterwards; nil when the event is ignored.
    public var next: ContactState?
    /// Counter move, only when the status changes.
    public var counters: CounterMove?
    /// The call no longer counts against the concurrency limit.
    public var releasesSlot: Bool
    /// The contact was surely not called and goes back to the front of its queue.
    public var requeues: Bool
    /// Plivo refused our credentials: the campaign pauses (if its status has not changed since
    /// the placement began; that guard is the store's).
    public var pausesCampaign: Bool
    /// The attempt ended with a result (counted in `rymi_call_results_total`).
    public var endsAttempt: Bool
    /// Written when the attempt ends (nil clears a reason left from before); kept otherwise.
    public var failureReason: FailureReason?
    public var detail: DetailChange
    public var requestUUID: RequestUUIDChange
    /// The attempt failed and the retry policy calls the contact again, at the earliest this many
    /// seconds from now: it is pending again, its last call's details go to its attempt.
    public var redialAfterSeconds: Int?

    public init(next: ContactState?, counters: CounterMove? = nil, releasesSlot: Bool = false, requeues: Bool = false,
                pausesCampaign: Bool = false, endsAttempt: Bool = false, failureReason: FailureReason? = nil,
                detail: DetailChange = .keep, requestUUID: RequestUUIDChange = .keep, redialAfterSeconds: Int? = nil) {
        self.redialAfterSeconds = redialAfterSeconds
        self.next = next
        self.counters = counters.flatMap { $0.from == $0.to ? nil : $0 }
        self.releasesSlot = releasesSlot
        self.requeues = requeues
        self.pausesCampaign = pausesCampaign
        self.endsAttempt = endsAttempt
        self.failureReason = failureReason
        self.detail = detail
        self.requestUUID = requestUUID
    }

    /// Nothing changes.
    public static let ignored = Transition(next: nil)

    /// The event changed the contact (the store's "applied").
    public var applied: Bool { next != nil }

    /// The contact reached a final status, so its campaign may now be complete.
    public var reachesFinalStatus: Bool { counters.map { $0.to.isFinal } ?? false }
}

extension ContactStatus {
    /// Completed, failed or skipped: nothing more happens to the contact.
    public var isFinal: Bool {
        switch self {
        case .pending, .dialed: return false
        case .completed, .failed, .skippedDNC, .canceled, .expired: return true
        }
    }
}

/// The rules.
public enum ContactLifecycle {
    /// - Parameter policy: the campaign's retry policy, for a hangup that failed.
    public static func apply(_ event: ContactEvent, to state: ContactState, policy: RetryPolicy = .none) -> Transition {
        switch event {
        case .begin(let attempt):
            // Only a pending contact with no call in flight is begun; from then on it is never
            // offered again (until surely not placed).
            guard state.status == .pending, state.callState == nil else { return .ignored }
            var next = state
            next.callState = .placing
            next.attempt = attempt
            next.attemptsMade += 1
            next.placementUncertain = false
            next.answeredByMachine = false
            return Transition(next: next)

        case .dncListed:
            guard state.status == .pending, state.callState == nil else { return .ignored }
            var next = state
            next.status = .skippedDNC
            return Transition(next: next, counters: CounterMove(from: .pending, to: .skippedDNC))

        case .placement(let attempt, let outcome):
            guard state.attempt == attempt else { return .ignored }
            return placement(outcome, state)

        case .callback(let event):
            guard state.attempt == event.attempt else { return .ignored }
            return callback(event, state, policy: policy)

        case .dialerLost(let attempt):
            guard state.attempt == attempt, state.callState == .placing else { return .ignored }
            var next = state
            next.status = .dialed
            next.callState = .uncertain
            next.placementUncertain = true
            return Transition(next: next, counters: CounterMove(from: .pending, to: .dialed),
                              detail: .set("dialer lost before reporting"))

        case .outcomeUnknown(let attempt, let detail):
            guard state.attempt == attempt, state.callState != nil else { return .ignored }
            return finish(state, to: .failed, reason: .outcomeUnknown, detail: .set(detail))

        case .queuedCallCanceled(let attempt, let reason):
            guard state.attempt == attempt, state.callState == .queued else { return .ignored }
            switch reason {
            case .campaignStopped:
                return releaseToPending(state)
            case .campaignCanceled:
                return finish(state, to: .canceled, reason: nil, detail: .set("canceled while queued at Plivo: the campaign was canceled"))
            case .doNotCall:
                return finish(state, to: .skippedDNC, reason: nil,
                              detail: .set("canceled while queued at Plivo: the number was put on the Do-Not-Call list"))
            }

        case .campaignCanceled, .campaignEnded:
            guard state.status == .pending, state.callState == nil else { return .ignored }
            var next = state
            next.status = event == .campaignCanceled ? .canceled : .expired
            return Transition(next: next, counters: CounterMove(from: .pending, to: next.status))

        case .queuedCallLeftQueue(let attempt):
            guard state.attempt == attempt, state.callState == .queued else { return .ignored }
            var next = state
            next.callState = .live
            return Transition(next: next)
        }
    }

    private static func placement(_ outcome: PlacementOutcome, _ state: ContactState) -> Transition {
        guard state.takesReport else {
            // A callback got here first (or the contact moved on): only fill in what it could not know.
            switch outcome {
            case .accepted(let uuid) where !uuid.isEmpty, .queued(let uuid) where !uuid.isEmpty:
                return Transition(next: nil, requestUUID: .fillIfMissing(uuid))
            default:
                return .ignored
            }
        }
        var next = state
        switch outcome {
        case .accepted(let uuid), .queued(let uuid):
            next.status = .dialed
            // A queued request is cancellable only by its id.
            let cancellable = !uuid.isEmpty && outcome == .queued(requestUUID: uuid)
            next.callState = cancellable ? .queued : .live
            return Transition(next: next, counters: CounterMove(from: state.status, to: .dialed), detail: .clear,
                              requestUUID: .set(uuid.isEmpty ? nil : uuid))
        case .uncertain(let reason):
            // Already presumed uncertain: the report adds nothing.
            guard !state.isPresumedPlacement else { return .ignored }
            next.status = .dialed
            next.callState = .uncertain
            next.placementUncertain = true
            return Transition(next: next, counters: CounterMove(from: .pending, to: .dialed), detail: .set(reason))
        case .refused(let status, let message):
            return finish(state, to: .failed, reason: .plivoRejected, detail: .set("HTTP \(status): \(message)"))
        case .skippedDNC:
            return finish(state, to: .skippedDNC, reason: nil, detail: .keep)
        case .notPlaced:
            return releaseToPending(state)
        case .authRejected:
            var transition = releaseToPending(state)
            transition.pausesCampaign = true
            return transition
        }
    }

    private static func callback(_ event: CallEvent, _ state: ContactState, policy: RetryPolicy) -> Transition {
        // A callback may reach a contact before its dialer's report (pending, placing); after the
        // call ended, or for an attempt released to pending, it changes nothing.
        guard state.status == .pending && state.callState == .placing || state.status == .dialed else { return .ignored }
        var next = state
        next.heard = state.heard || event.callUUID != nil
        let requestUUID: RequestUUIDChange = event.requestUUID.map { .fillIfMissing($0) } ?? .keep
        switch event.kind {
        case .ring, .answer, .machine:
            // Voicemail detection's verdict also proves the call was answered.
            if event.kind == .machine { next.answeredByMachine = event.machine == true }
            if state.status == .pending {
                next.status = .dialed
                next.callState = .live
            } else if state.callState == .uncertain || state.callState == .queued {
                next.callState = .live
            }
            return Transition(next: next, counters: CounterMove(from: state.status, to: .dialed), requestUUID: requestUUID)
        case .hangup:
            // A call a machine answered ends as voicemail, whatever its CallStatus (Plivo's
            // `hangup` mode ends it with cause 9100, Machine Detected).
            let machine = state.answeredByMachine || event.hangupCauseCode == FailureReason.machineDetectedCode
            let (status, reason) = machine ? (ContactStatus.failed, FailureReason.voicemail) : FailureReason.hangup(callStatus: event.callStatus)
            // Redialed by the policy, unless the placement may have fired unseen: "never twice by
            // accident" comes before any retry.
            if status == .failed, let reason, !state.placementUncertain,
               let delay = policy.redialDelay(after: reason, attemptsMade: state.attemptsMade) {
                next.status = .pending
                next.callState = nil
                next.heard = false
                return Transition(next: next, counters: CounterMove(from: state.status, to: .pending), releasesSlot: state.callState != nil,
                                  failureReason: reason, requestUUID: requestUUID, redialAfterSeconds: delay)
            }
            var transition = finish(next, to: status, reason: reason, detail: .keep)
            transition.releasesSlot = state.callState != nil
            transition.requestUUID = requestUUID
            return transition
        }
    }

    /// A final status: the call slot is released and the attempt counted.
    private static func finish(_ state: ContactState, to status: ContactStatus, reason: FailureReason?, detail: DetailChange) -> Transition {
        var next = state
        next.status = status
        next.callState = nil
        return Transition(next: next, counters: CounterMove(from: state.status, to: status), releasesSlot: true, endsAttempt: true,
                          failureReason: reason, detail: detail)
    }

    /// Surely not placed: pending again, offered again; the attempt does not count.
    private static func releaseToPending(_ state: ContactState) -> Transition {
        var next = state
        next.status = .pending
        next.callState = nil
        next.attemptsMade = max(0, state.attemptsMade - 1)
        return Transition(next: next, counters: CounterMove(from: state.status, to: .pending), releasesSlot: true, requeues: true,
                          detail: .clear)
    }
}

/// What becomes of `contacts.dialed_at`.
public enum DialedAtChange: Sendable, Equatable {
    case keep
    /// Now, unless already known (`coalesce`).
    case stampIfMissing
    case clear
}

/// Which of the contact's timestamps a transition stamps with "now".
public struct Stamps: Sendable, Equatable {
    public var dialedAt: DialedAtChange
    /// `ended_at`, unless already set.
    public var endedAt: Bool
    /// `last_event_at`: the clock the overdue-outcome check reads.
    public var lastEventAt: Bool
    /// `updated_at`: the contact's status, call state or attempt changed.
    public var updatedAt: Bool

    public init(dialedAt: DialedAtChange = .keep, endedAt: Bool = false, lastEventAt: Bool = false, updatedAt: Bool = false) {
        self.dialedAt = dialedAt
        self.endedAt = endedAt
        self.lastEventAt = lastEventAt
        self.updatedAt = updatedAt
    }
}

extension ContactLifecycle {
    /// The timestamps `transition` (the answer to `event` on `state`) stamps.
    public static func stamps(_ transition: Transition, for event: ContactEvent, from state: ContactState) -> Stamps {
        guard let next = transition.next else { return Stamps() }
        var stamps = Stamps()
        if transition.requeues || transition.redialAfterSeconds != nil {
            stamps.dialedAt = .clear
        } else if next.status == .dialed && state.status != .dialed {
            stamps.dialedAt = .stampIfMissing
        } else if case .callback(let callback) = event, callback.kind == .hangup {
            stamps.dialedAt = .stampIfMissing
        }
        // A Do-Not-Call skip is not the end of a call.
        stamps.endedAt = transition.endsAttempt && next.status != .skippedDNC
        // A contact released to pending, or skipped at its begin, has no call whose clock runs.
        stamps.lastEventAt = !transition.requeues && event != .dncListed
        stamps.updatedAt = next.status != state.status || next.callState != state.callState || next.attempt != state.attempt
        return stamps
    }
}
