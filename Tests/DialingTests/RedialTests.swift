import Dialing
import Protocol
import Testing

/// The retry policy's rules as sequences of events, on the pure contact rules.
@Suite struct RedialTests {
    static let busyThrice = RetryPolicy(rules: [.busy: .init(maxAttempts: 3, delaySeconds: 600)])

    /// Applies events in order with `policy`, returning the transitions and the final state.
    func run(_ events: [ContactEvent], policy: RetryPolicy, from start: ContactState = ContactState(status: .pending))
        -> (state: ContactState, steps: [Transition]) {
        var current = start
        var steps: [Transition] = []
        for event in events {
            let transition = ContactLifecycle.apply(event, to: current, policy: policy)
            steps.append(transition)
            if let next = transition.next { current = next }
        }
        return (current, steps)
    }

    func hangup(_ attempt: Int64, _ status: String) -> ContactEvent {
        .callback(CallEvent(kind: .hangup, contactID: "ct_1", attempt: attempt, callUUID: "call-\(attempt)", callStatus: status))
    }

    func call(_ attempt: Int64, ending status: String) -> [ContactEvent] {
        [.begin(attempt: attempt), .placement(attempt: attempt, outcome: .accepted(requestUUID: "req-\(attempt)")), hangup(attempt, status)]
    }

    /// `max_attempts` 3 is the first call and two redials, each after the delay; the third busy
    /// fails the contact with the last attempt's reason.
    @Test func busyIsCalledMaxAttemptsTimesInAll() {
        let (state, steps) = run(call(1, ending: "busy") + call(2, ending: "busy") + call(3, ending: "busy"), policy: Self.busyThrice)
        #expect(steps[2].redialAfterSeconds == 600 && steps[5].redialAfterSeconds == 600 && steps[8].redialAfterSeconds == nil)
        #expect(steps[2].next?.status == .pending && steps[2].counters == CounterMove(from: .dialed, to: .pending))
        #expect(steps[2].releasesSlot && !steps[2].requeues && !steps[2].endsAttempt && steps[2].failureReason == .busy)
        #expect(steps[2].next?.heard == false, "the next attempt starts unheard")
        #expect(state.status == .failed && state.attemptsMade == 3 && steps[8].failureReason == .busy)
    }

    /// Each outcome is redialed by its own rule: Plivo's `timeout` counts as no answer; a
    /// completed call, a cancel and an outcome no rule names are not redialed.
    @Test func eachOutcomeFollowsItsRule() {
        let policy = RetryPolicy(rules: [.noAnswer: .init(maxAttempts: 2, delaySeconds: 60), .callFailed: .init(maxAttempts: 2, delaySeconds: 120)])
        let table: [(String, Int?)] = [("no-answer", 60), ("timeout", 60), ("failed", 120), ("busy", nil), ("completed", nil), ("cancel", nil)]
        for (status, delay) in table {
            #expect(run(call(1, ending: status), policy: policy).steps[2].redialAfterSeconds == delay, "\(status)")
        }
        #expect(run(call(1, ending: "busy"), policy: .none).state.status == .failed)
    }

    /// "Never twice by accident" is stronger than any retry: a placement that may have fired
    /// unseen (an uncertain report, a lost dialer) is never redialed, even once its hangup is heard.
    @Test func neverARedialAfterAnUncertainPlacement() {
        let uncertain: [ContactEvent] = [.begin(attempt: 1), .placement(attempt: 1, outcome: .uncertain(reason: "Plivo answered HTTP 503")), hangup(1, "busy")]
        #expect(run(uncertain, policy: Self.busyThrice).state.status == .failed)
        let lost: [ContactEvent] = [.begin(attempt: 1), .dialerLost(attempt: 1), hangup(1, "busy")]
        #expect(run(lost, policy: Self.busyThrice).state.status == .failed)
        let unknown: [ContactEvent] = [.begin(attempt: 1), .placement(attempt: 1, outcome: .accepted(requestUUID: "r")),
                                       .outcomeUnknown(attempt: 1, detail: "Plivo does not know the call")]
        #expect(run(unknown, policy: Self.busyThrice).state.status == .failed)
        // The next attempt starts clean: a sure placement after an uncertain one that was released.
        let (state, _) = run([.begin(attempt: 1), .dialerLost(attempt: 1), .placement(attempt: 1, outcome: .notPlaced(reason: "x", retryAfterMilliseconds: 0))]
                             + call(2, ending: "busy"), policy: Self.busyThrice)
        #expect(state.status == .pending && state.attemptsMade == 1)
    }

    /// An attempt that surely never reached Plivo (429, a lease run out) is not one of the attempts.
    @Test func anAttemptNotPlacedDoesNotCount() {
        let twice = RetryPolicy(rules: [.busy: .init(maxAttempts: 2, delaySeconds: 60)])
        let events: [ContactEvent] = [.begin(attempt: 1), .placement(attempt: 1, outcome: .notPlaced(reason: "429", retryAfterMilliseconds: 1000))]
            + call(2, ending: "busy") + call(3, ending: "busy")
        let (state, steps) = run(events, policy: twice)
        #expect(steps[4].redialAfterSeconds == 60 && state.status == .failed && state.attemptsMade == 2)
    }

    /// Voicemail detection: a machine's answer makes the call's end `voicemail` (in `detect` mode
    /// its CallStatus is `completed`; in `hangup` mode Plivo ends it with cause 9100), which the
    /// policy's `voicemail` rule redials; a person's answer changes nothing.
    @Test func aMachinesAnswerEndsAsVoicemailAndIsRedialedByItsRule() {
        let policy = RetryPolicy(rules: [.voicemail: .init(maxAttempts: 2, delaySeconds: 3600)])
        func machine(_ attempt: Int64, _ verdict: Bool) -> ContactEvent {
            .callback(CallEvent(kind: .machine, contactID: "ct_1", attempt: attempt, callUUID: "call-\(attempt)", machine: verdict))
        }
        let placed: [ContactEvent] = [.begin(attempt: 1), .placement(attempt: 1, outcome: .accepted(requestUUID: "r"))]
        let (detected, steps) = run(placed + [machine(1, true), hangup(1, "completed")], policy: policy)
        #expect(steps[2].next?.answeredByMachine == true && steps[2].counters == nil)
        #expect(steps[3].redialAfterSeconds == 3600 && steps[3].failureReason == .voicemail && detected.status == .pending)
        let (again, _) = run([.begin(attempt: 2), .placement(attempt: 2, outcome: .accepted(requestUUID: "r2")), machine(2, true), hangup(2, "completed")],
                             policy: policy, from: detected)
        #expect(again.status == .failed && again.attemptsMade == 2, "its two attempts are used up")
        let hungUp = ContactEvent.callback(CallEvent(kind: .hangup, contactID: "ct_1", attempt: 1, callUUID: "call-1", callStatus: "completed",
                                                     hangupCause: "Machine Detected", hangupCauseCode: 9100))
        #expect(run(placed + [hungUp], policy: .none).state.status == .failed)
        #expect(run(placed + [hungUp], policy: .none).steps[2].failureReason == .voicemail)
        #expect(run(placed + [machine(1, false), hangup(1, "completed")], policy: policy).state.status == .completed)
    }

    @Test func thePolicysStoredFormRoundTrips() {
        let policy = RetryPolicy(rules: [.voicemail: .init(maxAttempts: 2, delaySeconds: 3600), .busy: .init(maxAttempts: 3, delaySeconds: 600)])
        #expect(policy.text == "busy=3/600,voicemail=2/3600")
        #expect(RetryPolicy(text: policy.text) == policy)
        #expect(RetryPolicy(text: "") == RetryPolicy.none)
        #expect(RetryPolicy(text: "busy=3") == nil && RetryPolicy(text: "ringing=2/60") == nil)
    }
}
