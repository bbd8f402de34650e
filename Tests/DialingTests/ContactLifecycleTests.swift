import Dialing
import Protocol
import Testing

// States as the store reads them (attempt 1 unless said otherwise).
private let fresh = ContactState(status: .pending)
private let released = ContactState(status: .pending, attempt: 1)
private let placing = ContactState(status: .pending, callState: .placing, attempt: 1)
private let live = ContactState(status: .dialed, callState: .live, attempt: 1)
private let liveHeard = ContactState(status: .dialed, callState: .live, attempt: 1, heard: true)
private let presumed = ContactState(status: .dialed, callState: .uncertain, attempt: 1)
/// Plivo holds the request in its call queue.
private let queued = ContactState(status: .dialed, callState: .queued, attempt: 1)
private let uncertainHeard = ContactState(status: .dialed, callState: .uncertain, attempt: 1, heard: true)
/// Dialed with no call in flight: not written by today's rules, but the SQL accepts callbacks for it.
private let dialedIdle = ContactState(status: .dialed, attempt: 1)
private let completed = ContactState(status: .completed, attempt: 1, heard: true)
private let failed = ContactState(status: .failed, attempt: 1)
private let skipped = ContactState(status: .skippedDNC)

private func state(_ base: ContactState, _ change: (inout ContactState) -> Void) -> ContactState {
    var copy = base
    change(&copy)
    return copy
}

private func callback(_ kind: CallEventKind, attempt: Int64 = 1, callUUID: String? = "call-1", requestUUID: String? = nil,
                      status: String? = nil) -> ContactEvent {
    .callback(CallEvent(kind: kind, contactID: "ct_1", attempt: attempt, callUUID: callUUID, requestUUID: requestUUID, callStatus: status))
}

private func report(_ outcome: PlacementOutcome, attempt: Int64 = 1) -> ContactEvent {
    .placement(attempt: attempt, outcome: outcome)
}

private let accepted = PlacementOutcome.accepted(requestUUID: "req-1")
private let refused = PlacementOutcome.refused(httpStatus: 422, message: "bad number")
private let notPlaced = PlacementOutcome.notPlaced(reason: "429", retryAfterMilliseconds: 1000)
private let authRejected = PlacementOutcome.authRejected(httpStatus: 401, message: "bad token")
private let uncertain = PlacementOutcome.uncertain(reason: "timeout")
private let queuedOutcome = PlacementOutcome.queued(requestUUID: "req-1")
private let canceledForPause = ContactEvent.queuedCallCanceled(attempt: 1, because: .campaignStopped)
private let canceledForDNC = ContactEvent.queuedCallCanceled(attempt: 1, because: .doNotCall)
private let queuedSkipDetail = DetailChange.set("canceled while queued at Plivo: the number was put on the Do-Not-Call list")

/// A final status reached through the end of an attempt.
private func finished(_ from: ContactState, _ status: ContactStatus, _ reason: FailureReason?, detail: DetailChange = .keep,
                      heard: Bool? = nil, releasesSlot: Bool = true, requestUUID: RequestUUIDChange = .keep) -> Transition {
    Transition(next: state(from) { $0.status = status; $0.callState = nil; $0.heard = heard ?? from.heard },
               counters: CounterMove(from: from.status, to: status), releasesSlot: releasesSlot, endsAttempt: true,
               failureReason: reason, detail: detail, requestUUID: requestUUID)
}

/// Surely not placed: back to pending and offered again.
private func requeued(_ from: ContactState, pauses: Bool = false) -> Transition {
    Transition(next: state(from) { $0.status = .pending; $0.callState = nil }, counters: CounterMove(from: from.status, to: .pending),
               releasesSlot: true, requeues: true, pausesCampaign: pauses, detail: .clear)
}

struct Row: Sendable, CustomTestStringConvertible {
    let name: String
    let state: ContactState
    let event: ContactEvent
    let expected: Transition

    init(_ name: String, _ state: ContactState, _ event: ContactEvent, _ expected: Transition) {
        self.name = name
        self.state = state
        self.event = event
        self.expected = expected
    }

    var testDescription: String { name }
}

private let table: [Row] = [
    // Begin: only a pending contact with no call in flight.
    Row("begin a fresh contact", fresh, .begin(attempt: 2),
        Transition(next: state(fresh) { $0.callState = .placing; $0.attempt = 2; $0.attemptsMade = 1 })),
    Row("begin a contact released to pending", released, .begin(attempt: 2),
        Transition(next: state(released) { $0.callState = .placing; $0.attempt = 2; $0.attemptsMade = 1 })),
    Row("begin a redial clears the last attempt's uncertainty", state(released) { $0.attemptsMade = 1; $0.placementUncertain = true },
        .begin(attempt: 2), Transition(next: state(released) { $0.callState = .placing; $0.attempt = 2; $0.attemptsMade = 2 })),
    Row("begin while placing", placing, .begin(attempt: 2), .ignored),
    Row("begin a live call", live, .begin(attempt: 2), .ignored),
    Row("begin after presumed placement", presumed, .begin(attempt: 2), .ignored),
    Row("begin a completed contact", completed, .begin(attempt: 2), .ignored),
    Row("begin a skipped contact", skipped, .begin(attempt: 2), .ignored),

    // The begin finds the number listed.
    Row("DNC at begin", fresh, .dncListed,
        Transition(next: state(fresh) { $0.status = .skippedDNC }, counters: CounterMove(from: .pending, to: .skippedDNC))),
    Row("DNC at begin, released contact", released, .dncListed,
        Transition(next: state(released) { $0.status = .skippedDNC }, counters: CounterMove(from: .pending, to: .skippedDNC))),
    Row("DNC at begin while placing", placing, .dncListed, .ignored),
    Row("DNC at begin, live", live, .dncListed, .ignored),
    Row("DNC at begin, completed", completed, .dncListed, .ignored),

    // Reports for a placement under way.
    Row("accepted", placing, report(accepted),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .live }, counters: CounterMove(from: .pending, to: .dialed),
                   detail: .clear, requestUUID: .set("req-1"))),
    Row("accepted without a request uuid", placing, report(.accepted(requestUUID: "")),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .live }, counters: CounterMove(from: .pending, to: .dialed),
                   detail: .clear, requestUUID: .set(nil))),
    Row("uncertain", placing, report(uncertain),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .uncertain; $0.placementUncertain = true },
                   counters: CounterMove(from: .pending, to: .dialed),
                   detail: .set("timeout"))),
    Row("refused", placing, report(refused), finished(placing, .failed, .plivoRejected, detail: .set("HTTP 422: bad number"))),
    Row("skipped by the dialer's DNC check", placing, report(.skippedDNC), finished(placing, .skippedDNC, nil)),
    Row("not placed", placing, report(notPlaced), requeued(placing)),
    Row("auth rejected", placing, report(authRejected), requeued(placing, pauses: true)),

    // Late reports after the manager presumed the placement (dialer lost), no callback since: honoured.
    Row("late accepted after presumed placement", presumed, report(accepted),
        Transition(next: state(presumed) { $0.callState = .live }, detail: .clear, requestUUID: .set("req-1"))),
    Row("late uncertain after presumed placement", presumed, report(uncertain), .ignored),
    Row("late refused after presumed placement", presumed, report(refused),
        finished(presumed, .failed, .plivoRejected, detail: .set("HTTP 422: bad number"))),
    Row("late skippedDNC after presumed placement", presumed, report(.skippedDNC), finished(presumed, .skippedDNC, nil)),
    Row("late not placed after presumed placement", presumed, report(notPlaced), requeued(presumed)),
    Row("late auth rejected after presumed placement", presumed, report(authRejected), requeued(presumed, pauses: true)),

    // Reports once a callback has spoken, or the contact moved on: only the request uuid is filled in.
    Row("accepted after a ring", live, report(accepted), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("accepted, duplicate", liveHeard, report(accepted), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("accepted without uuid after a ring", live, report(.accepted(requestUUID: "")), .ignored),
    Row("accepted after the hangup", completed, report(accepted), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("accepted, uncertain but heard", uncertainHeard, report(accepted), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("not placed for a live call", live, report(notPlaced), .ignored),
    Row("not placed, uncertain but heard", uncertainHeard, report(notPlaced), .ignored),
    Row("uncertain for a live call", live, report(uncertain), .ignored),
    Row("refused after the hangup", completed, report(refused), .ignored),
    Row("skippedDNC after failure", failed, report(.skippedDNC), .ignored),
    Row("not placed, re-sent", released, report(notPlaced), .ignored),
    Row("auth rejected, re-sent", released, report(authRejected), .ignored),
    Row("accepted, dialed with no call in flight", dialedIdle, report(accepted), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("report for an older attempt", state(placing) { $0.attempt = 2 }, report(accepted), .ignored),
    Row("not placed for an older attempt", state(placing) { $0.attempt = 2 }, report(notPlaced), .ignored),
    Row("report for a contact never begun", fresh, report(accepted), .ignored),

    // Callbacks.
    Row("ring before the report", placing, callback(.ring),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .live; $0.heard = true },
                   counters: CounterMove(from: .pending, to: .dialed))),
    Row("answer before the report, with request uuid", placing, callback(.answer, requestUUID: "req-1"),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .live; $0.heard = true },
                   counters: CounterMove(from: .pending, to: .dialed), requestUUID: .fillIfMissing("req-1"))),
    Row("hangup before the report", placing, callback(.hangup, status: "completed"), finished(placing, .completed, nil, heard: true)),
    Row("ring on a live call", live, callback(.ring), Transition(next: state(live) { $0.heard = true })),
    Row("ring without call uuid", live, callback(.ring, callUUID: nil), Transition(next: live)),
    Row("ring, duplicate", liveHeard, callback(.ring), Transition(next: liveHeard)),
    Row("answer on a live call", liveHeard, callback(.answer), Transition(next: liveHeard)),
    Row("ring after presumed placement", presumed, callback(.ring),
        Transition(next: state(presumed) { $0.callState = .live; $0.heard = true })),
    Row("answer, uncertain", presumed, callback(.answer, requestUUID: "req-9"),
        Transition(next: state(presumed) { $0.callState = .live; $0.heard = true }, requestUUID: .fillIfMissing("req-9"))),
    Row("hangup completed", live, callback(.hangup, status: "completed"), finished(live, .completed, nil, heard: true)),
    Row("hangup COMPLETED", live, callback(.hangup, status: "COMPLETED"), finished(live, .completed, nil, heard: true)),
    Row("hangup busy", live, callback(.hangup, status: "busy"), finished(live, .failed, .busy, heard: true)),
    Row("hangup no-answer", live, callback(.hangup, status: "no-answer"), finished(live, .failed, .noAnswer, heard: true)),
    Row("hangup timeout", live, callback(.hangup, status: "timeout"), finished(live, .failed, .timeout, heard: true)),
    Row("hangup cancel", live, callback(.hangup, status: "cancel"), finished(live, .failed, .canceled, heard: true)),
    Row("hangup failed", live, callback(.hangup, status: "failed"), finished(live, .failed, .callFailed, heard: true)),
    Row("hangup without CallStatus", live, callback(.hangup), finished(live, .failed, .callFailed, heard: true)),
    Row("hangup after presumed placement", presumed, callback(.hangup, requestUUID: "req-1", status: "busy"),
        finished(presumed, .failed, .busy, heard: true, requestUUID: .fillIfMissing("req-1"))),
    Row("hangup, dialed with no call in flight", dialedIdle, callback(.hangup, status: "completed"),
        finished(dialedIdle, .completed, nil, heard: true, releasesSlot: false)),
    Row("ring, dialed with no call in flight", dialedIdle, callback(.ring), Transition(next: state(dialedIdle) { $0.heard = true })),
    Row("hangup after completion", completed, callback(.hangup, status: "busy"), .ignored),
    Row("ring after hangup", completed, callback(.ring), .ignored),
    Row("hangup after failure", failed, callback(.hangup, status: "completed"), .ignored),
    Row("hangup for a skipped contact", skipped, callback(.hangup, status: "completed"), .ignored),
    Row("ring for an attempt released to pending", released, callback(.ring), .ignored),
    Row("hangup for an attempt released to pending", released, callback(.hangup, status: "completed"), .ignored),
    Row("hangup for an older attempt", state(live) { $0.attempt = 2 }, callback(.hangup, status: "completed"), .ignored),
    Row("ring for a contact never begun", fresh, callback(.ring), .ignored),

    // The dialer never reported.
    Row("dialer lost", placing, .dialerLost(attempt: 1),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .uncertain; $0.placementUncertain = true },
                   counters: CounterMove(from: .pending, to: .dialed),
                   detail: .set("dialer lost before reporting"))),
    Row("dialer lost, already presumed", presumed, .dialerLost(attempt: 1), .ignored),
    Row("dialer lost after its report", live, .dialerLost(attempt: 1), .ignored),
    Row("dialer lost after not placed", released, .dialerLost(attempt: 1), .ignored),
    Row("dialer lost, older attempt", state(placing) { $0.attempt = 2 }, .dialerLost(attempt: 1), .ignored),

    // Plivo holds the request queued: cancellable until the call starts.
    Row("queued", placing, report(queuedOutcome),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .queued }, counters: CounterMove(from: .pending, to: .dialed),
                   detail: .clear, requestUUID: .set("req-1"))),
    Row("queued without a request uuid cannot be canceled", placing, report(.queued(requestUUID: "")),
        Transition(next: state(placing) { $0.status = .dialed; $0.callState = .live }, counters: CounterMove(from: .pending, to: .dialed),
                   detail: .clear, requestUUID: .set(nil))),
    Row("late queued after presumed placement", presumed, report(queuedOutcome),
        Transition(next: state(presumed) { $0.callState = .queued }, detail: .clear, requestUUID: .set("req-1"))),
    Row("queued after a ring", live, report(queuedOutcome), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("queued, re-sent", queued, report(queuedOutcome), Transition(next: nil, requestUUID: .fillIfMissing("req-1"))),
    Row("ring of a queued call", queued, callback(.ring),
        Transition(next: state(queued) { $0.callState = .live; $0.heard = true })),
    Row("hangup of a queued call", queued, callback(.hangup, status: "no-answer"), finished(queued, .failed, .noAnswer, heard: true)),
    Row("canceled at Plivo for a pause", queued, canceledForPause, requeued(queued)),
    Row("canceled at Plivo for DNC", queued, canceledForDNC, finished(queued, .skippedDNC, nil, detail: queuedSkipDetail)),
    Row("canceled at Plivo, but it rang first", live, canceledForPause, .ignored),
    Row("canceled at Plivo, already canceled", released, canceledForDNC, .ignored),
    Row("canceled at Plivo, older attempt", state(queued) { $0.attempt = 2 }, canceledForPause, .ignored),
    Row("canceled at Plivo while placing", placing, canceledForPause, .ignored),
    Row("left Plivo's queue", queued, .queuedCallLeftQueue(attempt: 1), Transition(next: state(queued) { $0.callState = .live })),
    Row("left Plivo's queue, already live", live, .queuedCallLeftQueue(attempt: 1), .ignored),
    Row("left Plivo's queue after the hangup", completed, .queuedCallLeftQueue(attempt: 1), .ignored),
    Row("outcome unknown, queued", queued, .outcomeUnknown(attempt: 1, detail: "x"), finished(queued, .failed, .outcomeUnknown, detail: .set("x"))),

    // The campaign was canceled.
    Row("canceled at Plivo for a cancel", queued, .queuedCallCanceled(attempt: 1, because: .campaignCanceled),
        finished(queued, .canceled, nil, detail: .set("canceled while queued at Plivo: the campaign was canceled"))),
    Row("campaign canceled, pending", fresh, .campaignCanceled,
        Transition(next: state(fresh) { $0.status = .canceled }, counters: CounterMove(from: .pending, to: .canceled))),
    Row("campaign canceled, released to pending", released, .campaignCanceled,
        Transition(next: state(released) { $0.status = .canceled }, counters: CounterMove(from: .pending, to: .canceled))),
    Row("campaign canceled while placing", placing, .campaignCanceled, .ignored),
    Row("campaign canceled, live call finishes", live, .campaignCanceled, .ignored),
    Row("campaign canceled, completed", completed, .campaignCanceled, .ignored),

    // Nobody can tell.
    Row("outcome unknown, uncertain", presumed, .outcomeUnknown(attempt: 1, detail: "Plivo does not know the call"),
        finished(presumed, .failed, .outcomeUnknown, detail: .set("Plivo does not know the call"))),
    Row("outcome unknown, live", live, .outcomeUnknown(attempt: 1, detail: "no dialer connected"),
        finished(live, .failed, .outcomeUnknown, detail: .set("no dialer connected"))),
    Row("outcome unknown while placing", placing, .outcomeUnknown(attempt: 1, detail: "x"),
        finished(placing, .failed, .outcomeUnknown, detail: .set("x"))),
    Row("outcome unknown after the hangup", completed, .outcomeUnknown(attempt: 1, detail: "x"), .ignored),
    Row("outcome unknown after not placed", released, .outcomeUnknown(attempt: 1, detail: "x"), .ignored),
    Row("outcome unknown, no call in flight", dialedIdle, .outcomeUnknown(attempt: 1, detail: "x"), .ignored),
    Row("outcome unknown, older attempt", state(live) { $0.attempt = 2 }, .outcomeUnknown(attempt: 1, detail: "x"), .ignored),
]

@Suite struct ContactLifecycleTests {
    @Test(arguments: table)
    func transition(_ row: Row) {
        #expect(ContactLifecycle.apply(row.event, to: row.state) == row.expected)
    }

    @Test func callStatesAreTheDatabaseStrings() {
        #expect(CallState.allCases.map(\.rawValue) == ["placing", "live", "queued", "uncertain"])
        #expect(FailureReason.allCases.map(\.rawValue)
            == ["busy", "no_answer", "timeout", "call_failed", "canceled", "plivo_rejected", "outcome_unknown", "voicemail", "invalid_number"])
    }

    /// Over every state and event: counters move from the state read to the state written, a slot
    /// is released exactly when a call in flight stops being one, and an ignored event moves nothing.
    @Test func everyTransitionKeepsTheBooks() {
        let states = [fresh, released, placing, live, liveHeard, queued, presumed, uncertainHeard, dialedIdle, completed, failed, skipped]
        let outcomes: [PlacementOutcome] = [accepted, .accepted(requestUUID: ""), queuedOutcome, refused, notPlaced, authRejected, uncertain, .skippedDNC]
        var events: [ContactEvent] = [.begin(attempt: 2), .dncListed, .dialerLost(attempt: 1), .outcomeUnknown(attempt: 1, detail: "x"),
                                      canceledForPause, canceledForDNC, .queuedCallLeftQueue(attempt: 1), .campaignCanceled,
                                      .queuedCallCanceled(attempt: 1, because: .campaignCanceled)]
        for attempt: Int64 in [0, 1] {
            events += outcomes.map { report($0, attempt: attempt) }
            events += [callback(.ring, attempt: attempt), callback(.answer, attempt: attempt), callback(.hangup, attempt: attempt, status: "completed"),
                       callback(.hangup, attempt: attempt, status: "busy")]
        }
        for state in states {
            for event in events {
                let transition = ContactLifecycle.apply(event, to: state)
                guard let next = transition.next else {
                    #expect(transition.counters == nil && !transition.releasesSlot && !transition.requeues && !transition.pausesCampaign
                            && !transition.endsAttempt && transition.detail == .keep, "\(state) \(event)")
                    continue
                }
                if let move = transition.counters {
                    #expect(move.from == state.status && move.to == next.status, "\(state) \(event)")
                } else {
                    #expect(next.status == state.status, "\(state) \(event)")
                }
                #expect(transition.releasesSlot == (state.callState != nil && next.callState == nil), "\(state) \(event)")
                #expect(!transition.requeues || (next.status == .pending && next.callState == nil), "\(state) \(event)")
                #expect(!transition.endsAttempt || next.status.isFinal, "\(state) \(event)")
                #expect(!next.status.isFinal || next.callState == nil, "\(state) \(event)")
                #expect(transition.failureReason == nil || next.status == .failed, "\(state) \(event)")
            }
        }
    }
}

/// The defects of docs/reliability.md that concern contact transitions, as sequences of events.
@Suite struct ContactLifecycleDefectTests {
    /// Applies events in order, ignoring ignored ones, and returns the final state and transitions.
    private func run(_ events: [ContactEvent], from start: ContactState = fresh) -> (ContactState, [Transition]) {
        var current = start
        var transitions: [Transition] = []
        for event in events {
            let transition = ContactLifecycle.apply(event, to: current)
            transitions.append(transition)
            if let next = transition.next { current = next }
        }
        return (current, transitions)
    }

    /// "A dialer's late report after the manager presumed a placement was ignored, so a call
    /// never placed ended as `outcome_unknown`": such reports are honoured while no callback has come.
    @Test func aLateReportAfterAPresumedPlacementIsHonoured() {
        let (state, steps) = run([.begin(attempt: 1), .dialerLost(attempt: 1), report(notPlaced, attempt: 1),
                                  .outcomeUnknown(attempt: 1, detail: "Plivo does not know the call")])
        #expect(steps[2].applied && steps[2].requeues && steps[2].releasesSlot)
        #expect(steps[2].counters == CounterMove(from: .dialed, to: .pending))
        #expect(!steps[3].applied)
        // Surely not called: the attempt does not count (the mark stays until the next begin).
        #expect(state == ContactState(status: .pending, attempt: 1, attemptsMade: 0, placementUncertain: true))

        let (accepted, _) = run([.begin(attempt: 1), .dialerLost(attempt: 1), report(.accepted(requestUUID: "req-1"), attempt: 1)])
        #expect(accepted == ContactState(status: .dialed, callState: .live, attempt: 1, attemptsMade: 1, placementUncertain: true))
    }

    /// ...but not once a callback proved the call exists.
    @Test func aLateNotPlacedAfterACallbackIsIgnored() {
        let (state, steps) = run([.begin(attempt: 1), .dialerLost(attempt: 1), callback(.ring), report(notPlaced, attempt: 1)])
        #expect(!steps[3].applied)
        #expect(state == ContactState(status: .dialed, callState: .live, attempt: 1, heard: true, attemptsMade: 1, placementUncertain: true))
    }

    /// "A 401 reported late, for a placement begun before the user resumed, paused the resumed
    /// campaign again (and its contact was not re-queued)": the contact is re-offered; whether the
    /// campaign pauses is the store's check of the status version the placement began under.
    @Test func aLateAuthRefusalRequeuesItsContact() {
        let (state, steps) = run([.begin(attempt: 1), .dialerLost(attempt: 1), report(authRejected, attempt: 1)])
        #expect(steps[2].requeues && steps[2].releasesSlot && steps[2].pausesCampaign)
        #expect(state.status == .pending && state.callState == nil)
        #expect(ContactLifecycle.apply(.begin(attempt: 2), to: state).next?.callState == .placing)
    }

    /// "Faster callbacks reached a contact before its dialer's report": the contact moves once,
    /// and the report only adds the request uuid.
    @Test func aCallbackBeforeTheReportCountsTheContactOnce() {
        let (state, steps) = run([.begin(attempt: 1), callback(.ring), report(.accepted(requestUUID: "req-1"), attempt: 1),
                                  callback(.hangup, status: "completed")])
        #expect(steps.compactMap(\.counters) == [CounterMove(from: .pending, to: .dialed), CounterMove(from: .dialed, to: .completed)])
        #expect(steps[2] == Transition(next: nil, requestUUID: .fillIfMissing("req-1")))
        #expect(steps.filter(\.releasesSlot).count == 1)
        #expect(state.status == .completed && state.callState == nil)
    }

    /// "A number listed on the DNC list while its begin waited for a pacing slot was still called":
    /// the dispatcher withdraws it as a `skippedDNC` report, which ends the contact, frees the slot
    /// and never requeues it.
    @Test func aPlacementWithdrawnForDNCIsSkippedNotRequeued() {
        let (state, steps) = run([.begin(attempt: 1), report(.skippedDNC, attempt: 1)])
        #expect(steps[1].releasesSlot && !steps[1].requeues && steps[1].failureReason == nil)
        #expect(steps[1].counters == CounterMove(from: .pending, to: .skippedDNC))
        #expect(state.status == .skippedDNC && state.callState == nil)
    }

    /// "A forged `notPlaced` released a call in flight and the number was called twice": who may
    /// report is the dispatcher's check; the rules add that once a callback or an acceptance shows
    /// the call exists, no report can release it.
    @Test func noReportReleasesACallKnownToExist() {
        for start in [live, liveHeard, uncertainHeard] {
            for outcome in [notPlaced, authRejected] {
                #expect(ContactLifecycle.apply(report(outcome, attempt: 1), to: start) == .ignored)
            }
        }
    }

    /// Plivo's retries and replays of callbacks (`callbacksRepeatedReorderedLateOrOddChangeNothingWrongly`):
    /// late hangups and rings after the end change nothing.
    @Test func repeatedAndReorderedCallbacksChangeNothingAfterTheEnd() {
        let (state, steps) = run([.begin(attempt: 1), report(.accepted(requestUUID: "req-1"), attempt: 1), callback(.hangup, status: "busy"),
                                  callback(.hangup, status: "completed"), callback(.ring), callback(.answer)])
        #expect(steps[3...].allSatisfy { $0 == .ignored })
        #expect(state == ContactState(status: .failed, attempt: 1, heard: true, attemptsMade: 1))
        #expect(steps[2].failureReason == .busy)
    }
}

/// The timestamps each kind of transition stamps, as the store's SQL did before the rules moved here.
@Suite struct ContactLifecycleStampsTests {
    private func stamps(_ event: ContactEvent, _ state: ContactState) -> Stamps {
        ContactLifecycle.stamps(ContactLifecycle.apply(event, to: state), for: event, from: state)
    }

    @Test func stampsFollowTheStoresColumns() {
        #expect(stamps(.begin(attempt: 2), fresh) == Stamps(lastEventAt: true, updatedAt: true))
        #expect(stamps(.dncListed, fresh) == Stamps(updatedAt: true))
        #expect(stamps(report(accepted), placing) == Stamps(dialedAt: .stampIfMissing, lastEventAt: true, updatedAt: true))
        #expect(stamps(report(uncertain), placing) == Stamps(dialedAt: .stampIfMissing, lastEventAt: true, updatedAt: true))
        #expect(stamps(report(refused), placing) == Stamps(endedAt: true, lastEventAt: true, updatedAt: true))
        #expect(stamps(report(.skippedDNC), placing) == Stamps(lastEventAt: true, updatedAt: true))
        #expect(stamps(report(notPlaced), presumed) == Stamps(dialedAt: .clear, updatedAt: true))
        #expect(stamps(report(accepted), presumed) == Stamps(lastEventAt: true, updatedAt: true))
        #expect(stamps(callback(.ring), placing) == Stamps(dialedAt: .stampIfMissing, lastEventAt: true, updatedAt: true))
        #expect(stamps(callback(.ring), presumed) == Stamps(lastEventAt: true, updatedAt: true))
        // A duplicate ring only moves the overdue clock.
        #expect(stamps(callback(.ring), liveHeard) == Stamps(lastEventAt: true))
        #expect(stamps(callback(.hangup, status: "busy"), live) == Stamps(dialedAt: .stampIfMissing, endedAt: true, lastEventAt: true, updatedAt: true))
        #expect(stamps(.dialerLost(attempt: 1), placing) == Stamps(dialedAt: .stampIfMissing, lastEventAt: true, updatedAt: true))
        #expect(stamps(.outcomeUnknown(attempt: 1, detail: "x"), presumed) == Stamps(endedAt: true, lastEventAt: true, updatedAt: true))
        #expect(stamps(callback(.hangup, status: "busy"), completed) == Stamps())
    }
}
