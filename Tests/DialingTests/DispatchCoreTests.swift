import Dialing
import Protocol
import Testing

/// The dispatcher's rows of the defect table in docs/reliability.md, each as the sequence of
/// events that once went wrong, against the pure core on a virtual clock. Each was run against a
/// deliberately broken copy of its rule and failed (`scripts/mutants.sh` repeats that).
@Suite struct DispatchCoreDefectTests {
    typealias Harness = DispatchHarness

    /// "Status changes finishing out of order could leave a running campaign with no queue, or a
    /// paused one queued": only newer versions apply.
    @Test func statusChangesAppliedOutOfOrderNeverQueueAPausedCampaign() {
        var harness = Harness()
        harness.join("d1", slots: 10)
        harness.pause(Harness.acme, version: 3)
        // The start (version 2) finishes after the pause (version 3).
        harness.run(Harness.acme, version: 2, contacts: Harness.contacts(1...5))
        #expect(harness.core.runningCampaigns == 0)
        #expect(harness.takeOffers().isEmpty)
        // A resume after both applies.
        harness.run(Harness.acme, version: 4, contacts: Harness.contacts(1...5))
        #expect(harness.takeOffers().count == 5)
    }

    /// The other half of that fix: a begin the database refuses because the campaign is not
    /// running makes the core read the campaign again.
    @Test func aBeginRefusedForNotRunningRereadsTheCampaign() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        #expect(harness.begin(offer, verdict: .campaignNotRunning) == .answer(BeginCallReply(go: false, reason: "campaignNotRunning")))
        #expect(harness.resyncs == [Harness.acme.seq])
        #expect(harness.core.liveCalls == 0)
    }

    /// "Pause/DNC answered once leases expired, while a request could still sit in the dialer's
    /// HTTP queue": a begun placement counts until it is reported (or times out), not until its
    /// lease ends.
    @Test func aBegunPlacementCountsUntilReportedNotUntilItsLeaseEnds() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        let ofAcme: (Harness.Core.Begun) -> Bool = { $0.campaign == Harness.acme.seq }
        harness.advance(harness.core.settings.lease + .seconds(1))
        harness.tick()
        #expect(harness.core.hasBegun(where: ofAcme))
        harness.report(offer.attempt, .accepted(requestUUID: "r1"))
        #expect(!harness.core.hasBegun(where: ofAcme))
    }

    /// "A reconnecting dialer could inherit the old connection's debts": its offers come back at
    /// once, and the new connection is a new member with every slot free; the old connection's
    /// offers cannot be begun by the new one.
    @Test func aReconnectingDialerIsANewMemberAndItsOffersComeBack() {
        var harness = Harness()
        let old = harness.join("d1", slots: 3)
        harness.run(Harness.acme, contacts: Harness.contacts(1...10))
        let stranded = harness.takeOffers()
        #expect(stranded.count == 3)
        harness.perform(harness.core.dialerLeft(old, now: harness.now))
        let new = harness.join("d1", slots: 3)
        #expect(new != old)
        let again = harness.takeOffers()
        #expect(again.map(\.contact) == stranded.map(\.contact))
        #expect(again.allSatisfy { $0.dialer == new })
        #expect(harness.begin(stranded[0], by: new) == .answer(BeginCallReply(go: false, reason: "no such offer (expired or withdrawn)")))
    }

    /// "Offers always went to the same dialer when all were equally free": each call ends before
    /// the next is offered, so both dialers are equally free every time, and they take turns.
    @Test func equallyFreeDialersTakeTurns() {
        var harness = Harness(maxConcurrentCalls: 1)
        harness.join("d1", slots: 5)
        harness.join("d2", slots: 5)
        harness.run(Harness.acme, contacts: Harness.contacts(1...6))
        var dialers: [Harness.Core.DialerID] = []
        for _ in 0..<6 {
            let offer = harness.takeOffers()[0]
            dialers.append(offer.dialer)
            harness.go(offer)
            harness.report(offer.attempt, .accepted(requestUUID: "r"), effect: Harness.callEnded)
        }
        #expect(Set(dialers).count == 2)
        #expect(zip(dialers, dialers.dropFirst()).allSatisfy { $0 != $1 })
    }

    /// "Commit latency jitter let 51 requests into a one-second window at 50 CPS": the go-aheads
    /// themselves are paced, whatever the commits take.
    @Test func goAheadsArePacedWhateverTheCommitsTake() {
        var harness = Harness(callsPerSecond: 50)
        harness.join("d1", slots: 1000)
        harness.run(Harness.acme, contacts: Harness.contacts(1...400))
        var goes: [VirtualInstant] = []
        var jitter = PacerTests.Lateness(seed: 7)
        // Begins arrive as offers do, each after a commit of random length.
        while goes.count < 300 {
            let offers = harness.takeOffers()
            #expect(!offers.isEmpty)
            var waiting: [(Int64, Harness.Core.BeginStep)] = []
            for offer in offers {
                harness.advance(jitter.next())
                waiting.append((offer.attempt, harness.begin(offer)))
            }
            for (attempt, step) in waiting {
                guard case .answer(let reply) = harness.goAhead(attempt, from: step), reply.go else { continue }
                goes.append(harness.now)
                harness.report(attempt, .accepted(requestUUID: "r\(attempt)"), effect: Harness.callEnded)
            }
        }
        #expect(PacerTests.busiestSecond(goes) <= 50)
    }

    /// "Reports re-sent concurrently were counted twice", and "faster callbacks reached a contact
    /// before its dialer's report, and the placement was not counted": once per placement begun.
    @Test func aPlacementIsCountedOnceWhateverComesFirst() {
        var harness = Harness.dialing(2)
        let offers = harness.takeOffers()
        for offer in offers { harness.go(offer) }
        let applied = DispatchEffect(transition: Transition(next: ContactState(status: .dialed, callState: .live, attempt: 1)))
        // Re-sent: the first counts, the second (not applied, no placement left) does not.
        let first = harness.report(offers[0].attempt, .accepted(requestUUID: "r"), effect: applied)
        let resent = harness.report(offers[0].attempt, .accepted(requestUUID: "r"), effect: DispatchEffect())
        // A callback got there first: the report changes nothing in the database, yet counts.
        let afterCallback = harness.report(offers[1].attempt, .accepted(requestUUID: "r"), effect: DispatchEffect())
        #expect(first && !resent && afterCallback)
    }

    /// "A number listed on the DNC list while its begin waited for a pacing slot was still
    /// called": it is settled as `skipped_dnc` instead of sent.
    @Test func aNumberListedWhileItsBeginWaitsForItsSlotIsNotCalled() {
        var harness = Harness.dialing(3, callsPerSecond: 2)
        let offers = harness.takeOffers()
        let first = harness.go(offers[0])
        guard case .answer(let reply) = first else { Issue.record("no answer: \(first)"); return }
        #expect(reply.go)
        let second = harness.begin(offers[1])
        guard case .waitUntil = second else { Issue.record("the second begin did not wait: \(second)"); return }
        harness.core.listed(account: "acme", numbers: [offers[1].contact.phoneNumber], now: harness.now)
        let report = ReportPlacement(attempt: offers[1].attempt, contactID: ContactID.format(offers[1].contact.seq), outcome: .skippedDNC)
        #expect(harness.goAhead(offers[1].attempt, from: second)
                == .settle(report, then: BeginCallReply(go: false, reason: "number put on the Do-Not-Call list")))
        // Another account's listing of the same number does not stop acme's next call.
        let third = harness.begin(offers[2])
        harness.core.listed(account: "globex", numbers: [offers[2].contact.phoneNumber], now: harness.now)
        guard case .answer(let last) = harness.goAhead(offers[2].attempt, from: third) else { Issue.record("no answer"); return }
        #expect(last.go)
    }

    /// The dialer went away while its begin waited for the slot: it never heard "go", so the
    /// placement is settled as not placed (and the contact offered again by the lifecycle).
    @Test func aBeginWhoseDialerLeftWhileWaitingIsSettledAsNotPlaced() {
        var harness = Harness.dialing(2, callsPerSecond: 2)
        let offers = harness.takeOffers()
        harness.go(offers[0])
        let step = harness.go(offers[1], dialerGone: true)
        guard case .settle(let report, let reply) = step else { Issue.record("not settled: \(step)"); return }
        #expect(!reply.go)
        #expect(report.outcome == .notPlaced(reason: "dialer gone before its go-ahead", retryAfterMilliseconds: 0))
    }

    /// "A peer that took offers and never began them held their slots for good": offers expire
    /// at their lease, the contact goes to another dialer, and the stalling one is passed over.
    @Test func offersNotBegunWithinTheirLeaseGoElsewhere() {
        var harness = Harness()
        let rogue = harness.join("rogue", slots: 1000)
        harness.run(Harness.acme, contacts: Harness.contacts(1...3))
        let taken = harness.takeOffers()
        #expect(taken.count == 3 && taken.allSatisfy { $0.dialer == rogue })
        for offer in taken { harness.perform(harness.core.offerTaken(offer.attempt, now: harness.now)) }
        #expect(harness.wakes == [VirtualInstant.start.advanced(by: harness.core.settings.lease)])
        let honest = harness.join("honest", slots: 1)
        #expect(harness.takeOffers().isEmpty)  // the rogue holds every contact
        harness.advance(harness.core.settings.lease)
        harness.tick()
        #expect(harness.notices.contains(.dialerSuspended(dialer: "rogue", seconds: 5)))
        #expect(harness.notices.filter { if case .offerExpired = $0 { true } else { false } }.count == 3)
        let reoffered = harness.takeOffers()
        #expect(reoffered.map(\.dialer) == [honest])
        #expect(reoffered[0].contact == taken[0].contact)
        // The rogue's late begin is refused.
        #expect(harness.begin(taken[1]) == .answer(BeginCallReply(go: false, reason: "no such offer (expired or withdrawn)")))
        // Once its suspension ends it is offered to again.
        harness.advance(.seconds(5))
        harness.tick()
        #expect(harness.takeOffers().contains { $0.dialer == rogue })
    }

    /// "Any dialer could report any placement": only the dialer told to go may.
    @Test func onlyTheDialerToldToGoMayReport() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        #expect(harness.core.mayReport(offer.attempt, dialerName: "d2") == .reportRefused(dialer: "d2", attempt: offer.attempt, begunBy: "d1"))
        #expect(harness.core.mayReport(offer.attempt, dialerName: "d1") == nil)
        #expect(harness.core.mayReport(offer.attempt, dialerName: nil) == nil)
    }
}

/// The rest of the core: limits, backoff, loads, renewals and reconciliation.
@Suite struct DispatchCoreTests {
    typealias Harness = DispatchHarness

    @Test func neverMoreCallsInFlightThanTheLimit() {
        var harness = Harness.dialing(10, slots: 100, maxConcurrentCalls: 4)
        let offers = harness.takeOffers()
        #expect(offers.count == 4)
        for offer in offers { harness.go(offer) }
        #expect(harness.core.liveCalls == 4)
        harness.report(offers[0].attempt, .accepted(requestUUID: "r"))
        #expect(harness.takeOffers().isEmpty)  // accepted: the call is live, its slot still held
        harness.perform(harness.core.changed(by: Harness.callEnded, now: harness.now))
        #expect(harness.takeOffers().count == 1)
    }

    @Test func aRateLimitedPlacementHoldsEveryOfferUntilTheBackoffEnds() {
        var harness = Harness.dialing(3, slots: 1)
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        let requeued = DispatchEffect(transition: Transition(next: ContactState(status: .pending), releasesSlot: true, requeues: true),
                                      contact: offer.contact, campaign: Harness.acme.seq)
        harness.report(offer.attempt, .notPlaced(reason: "429", retryAfterMilliseconds: 1500), effect: requeued)
        #expect(harness.takeOffers().isEmpty)
        #expect(harness.wakes.last == VirtualInstant.start.advanced(by: .milliseconds(1500)))
        harness.advance(.milliseconds(1500))
        harness.tick()
        #expect(harness.takeOffers().map(\.contact) == [offer.contact])  // the requeued contact first
    }

    @Test func pacedOffersRunOnlyALittleAheadOfTheGate() {
        var harness = Harness(callsPerSecond: 10)
        harness.join("d1", slots: 1000)
        harness.run(Harness.acme, contacts: Harness.contacts(1...100))
        #expect(harness.takeOffers().count == harness.core.settings.lookahead)
    }

    @Test func campaignsTakeTurns() {
        var harness = Harness()
        harness.run(Harness.acme, contacts: Harness.contacts(1...10))
        harness.run(Harness.globex, contacts: Harness.contacts(11...20))
        harness.join("d1", slots: 1)
        var campaigns: [Int64] = []
        for _ in 0..<6 {
            let offer = harness.takeOffers()[0]
            campaigns.append(offer.campaign.seq)
            harness.go(offer)
            harness.report(offer.attempt, .accepted(requestUUID: "r"), effect: Harness.callEnded)
        }
        #expect(campaigns == [1, 2, 1, 2, 1, 2])
    }

    /// A load started for a queue that was dropped (paused) and made anew (resumed) before it
    /// finished is not taken for the new queue's: nobody is queued twice.
    @Test func aLoadForAQueueDroppedMeanwhileIsIgnored() {
        var harness = Harness(maxConcurrentCalls: 1000)
        harness.answerLoads = false
        harness.join("d1", slots: 1000)
        harness.run(Harness.acme, contacts: Harness.contacts(1...5))
        harness.pause(Harness.acme, version: 2)
        harness.run(Harness.acme, version: 3, contacts: Harness.contacts(1...5))
        #expect(harness.heldLoads.count == 2)
        harness.answerHeldLoads()
        let offered = harness.takeOffers().map(\.contact.seq)
        #expect(offered.sorted() == [1, 2, 3, 4, 5])
    }

    /// A go-ahead carries its slot, and a renewal gets another; only the dialer that began it
    /// may renew, and only while it waits for nothing else.
    @Test func aGoAheadCarriesItsSlotAndALateDialerRenews() {
        var harness = Harness.dialing(3, callsPerSecond: 2)
        let offers = harness.takeOffers()
        harness.go(offers[0])
        let asked = harness.now
        guard case .answer(let reply) = harness.go(offers[1]) else { Issue.record("no answer"); return }
        #expect(reply.go)
        #expect(reply.heldMicroseconds == Harness.Core.microseconds(asked.duration(to: harness.now)))
        #expect(reply.sendWithinMicroseconds == Harness.Core.microseconds(Pacing.sendWithin))
        #expect(harness.core.renewRequested(offers[1].attempt, byName: "d2", now: harness.now)
                == .answer(BeginCallReply(go: false, reason: "no such placement to renew")))
        let renewed = harness.core.renewRequested(offers[1].attempt, byName: "d1", now: harness.now)
        // Its answer left the window (the request never went), so it may go at once: the slot it
        // missed is not lost to the rate.
        guard case .waitUntil(let slot) = renewed else { Issue.record("no new slot: \(renewed)"); return }
        #expect(slot == harness.now)
        guard case .answer(let again) = harness.goAhead(offers[1].attempt, from: renewed) else { Issue.record("no answer"); return }
        #expect(again.go)
    }

    @Test func unpacedGoAheadsCarryNoSlot() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        #expect(harness.go(offer) == .answer(BeginCallReply(go: true)))
    }

    @Test func aDatabaseFailureAtBeginPutsTheContactBack() {
        var harness = Harness.dialing(2, slots: 1)
        let offer = harness.takeOffers()[0]
        guard case .commit(let committing) = harness.core.beginRequested(offer.attempt, by: offer.dialer, now: harness.now) else {
            Issue.record("no commit"); return
        }
        harness.perform(harness.core.beginFailed(committing, now: harness.now))
        #expect(harness.core.liveCalls == 0)
        #expect(harness.takeOffers().map(\.contact) == [offer.contact])
    }

    @Test func placementsNeverReportedBecomeUncertainAtTheTimeout() {
        var harness = Harness(placementTimeout: .seconds(30))
        harness.join("d1", slots: 1)
        harness.run(Harness.acme, contacts: Harness.contacts(1...2))
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        harness.advance(.seconds(30))
        harness.perform(harness.core.placementsTimedOut(now: harness.now))
        #expect(harness.uncertain.isEmpty)
        harness.advance(.milliseconds(1))
        harness.perform(harness.core.placementsTimedOut(now: harness.now))
        #expect(harness.uncertain == [offer.attempt])
        // Its dialer slot is free again (and takes the next contact); the call still counts
        // against the concurrency limit.
        #expect(harness.core.liveCalls == 1)
        #expect(harness.takeOffers().map(\.contact.seq) == [2])
    }

    @Test func overdueCallsAreLookedUpOncePerPeriodAndPlacingOnesBecomeUncertain() {
        var harness = Harness()
        let wallNow: Int64 = 1_000_000
        let placing = OverdueCall(contactSeq: 1, attempt: 11, callState: .placing, requestUUID: nil, callUUID: nil, lastEventAt: wallNow - 31_000)
        let silent = OverdueCall(contactSeq: 2, attempt: 12, callState: .live, requestUUID: "r", callUUID: "c", lastEventAt: wallNow - 61_000)
        let recent = OverdueCall(contactSeq: 3, attempt: 13, callState: .live, requestUUID: "r", callUUID: "c", lastEventAt: wallNow - 59_000)
        harness.perform(harness.core.overdue([placing, silent, recent], wallNow: wallNow, now: harness.now))
        #expect(harness.uncertain == [11])
        #expect(harness.lookups == [silent])
        harness.advance(.seconds(30))
        harness.perform(harness.core.overdue([silent], wallNow: wallNow + 30_000, now: harness.now))
        #expect(harness.lookups == [silent])
        harness.advance(.seconds(31))
        harness.perform(harness.core.overdue([silent], wallNow: wallNow + 61_000, now: harness.now))
        #expect(harness.lookups == [silent, silent])
    }

    @Test func lookupAnswersResolveCallsOnlyWhenTheyTellOrTimeRunsOut() {
        var harness = Harness()
        let call = OverdueCall(contactSeq: 2, attempt: 12, callState: .live, requestUUID: "r", callUUID: "c", lastEventAt: 0)
        #expect(harness.core.lookedUp(call, .live, wallNow: 61_000) == .touch)
        #expect(harness.core.lookedUp(call, .notFound, wallNow: 61_000) == .nothing)
        #expect(harness.core.lookedUp(call, .notFound, wallNow: 900_001) == .failOutcomeUnknown(detail: "Plivo does not know the call"))
        #expect(harness.core.lookedUp(call, .unavailable(reason: "down"), wallNow: 900_001) == .failOutcomeUnknown(detail: "down"))
        let ended = harness.core.lookedUp(call, .ended(callStatus: "busy", hangupCause: "Busy Line", hangupCauseCode: 3010, durationSeconds: 0),
                                          wallNow: 61_000)
        #expect(ended == .hangup(CallEvent(kind: .hangup, contactID: "ct_2", attempt: 12, callUUID: "c", requestUUID: "r", callStatus: "busy",
                                           hangupCause: "Busy Line", hangupCauseCode: 3010, durationSeconds: 0)))
    }

    /// A call still in Plivo's queue is not lost: its clock restarts, as a live one's.
    @Test func aCallStillQueuedAtPlivoIsTouchedNotFailed() {
        var harness = Harness()
        let call = OverdueCall(contactSeq: 2, attempt: 12, callState: .queued, requestUUID: "r", callUUID: nil, lastEventAt: 0)
        #expect(harness.core.lookedUp(call, .queued, wallNow: 900_001) == .touch)
    }

    /// A queued call to stop is asked for once per sweep; one whose cancel could not be asked for
    /// waits `stopRetry` before the next try, and an answer says what becomes of its contact.
    @Test func queuedCallsAreAskedToStopAndRetriedAfterAPause() {
        var harness = Harness()
        let paused = QueuedCallToStop(contactSeq: 1, attempt: 11, requestUUID: "r1", reason: .campaignStopped)
        let listed = QueuedCallToStop(contactSeq: 2, attempt: 12, requestUUID: "r2", reason: .doNotCall)
        #expect(harness.core.queuedCallsToStop([paused, listed], now: harness.now) == [paused, listed])
        #expect(harness.core.stopAnswered(paused, .unavailable(reason: "down"), now: harness.now) == nil)
        #expect(harness.core.stopAnswered(listed, .canceled, now: harness.now) == .queuedCallCanceled(attempt: 12, because: .doNotCall))
        harness.advance(.seconds(1))
        #expect(harness.core.queuedCallsToStop([paused], now: harness.now).isEmpty)
        harness.advance(.seconds(1))
        #expect(harness.core.queuedCallsToStop([paused], now: harness.now) == [paused])
        #expect(harness.core.stopAnswered(paused, .notQueued, now: harness.now) == .queuedCallLeftQueue(attempt: 11))
        // Answered: asked at once the next time it is a candidate (a new pause after a resume).
        #expect(harness.core.queuedCallsToStop([paused], now: harness.now) == [paused])
    }
}

/// Findings of the review of the core, each as the sequence that once went wrong.
@Suite struct DispatchCoreReviewTests {
    typealias Harness = DispatchHarness

    /// A wake-up that fires early (a clock that returns before its deadline) must not leave the
    /// core believing a wake-up is still pending: later leases would then never expire.
    @Test func anEarlyWakeUpDoesNotSwallowLaterOnes() {
        var harness = Harness.dialing(2, slots: 1000)
        let offers = harness.takeOffers()
        for offer in offers { harness.perform(harness.core.offerTaken(offer.attempt, now: harness.now)) }
        let armed = harness.wakes.last!
        let armedSoFar = harness.wakes.count
        // It fires 1 ms early.
        harness.advance(harness.core.settings.lease - .milliseconds(1))
        harness.perform(harness.core.tick(now: harness.now, armedFor: armed))
        #expect(harness.wakes.count == armedSoFar + 1, "a new wake-up is armed for the leases still running")
        harness.now = harness.wakes.last!
        harness.perform(harness.core.tick(now: harness.now, armedFor: harness.wakes.last!))
        #expect(harness.notices.contains { if case .offerExpired = $0 { true } else { false } })
    }

    /// A begin whose commit is still running counts as begun for pause and DNC: its commit may
    /// land, and then it goes.
    @Test func aBeginBeingCommittedCountsAsBegun() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        guard case .commit(let committing) = harness.core.beginRequested(offer.attempt, by: offer.dialer, now: harness.now) else {
            Issue.record("no commit"); return
        }
        #expect(harness.core.hasBegun { $0.campaign == Harness.acme.seq })
        let (_, directives) = harness.core.beginCommitted(committing, .campaignNotRunning, now: harness.now)
        harness.perform(directives)
        #expect(!harness.core.hasBegun { $0.campaign == Harness.acme.seq })
    }

    /// A load that finishes while a contact's begin is being committed does not queue that
    /// contact again: the commit lands, and a second offer would only be refused.
    @Test func aLoadDuringACommitDoesNotQueueTheContactTwice() {
        var harness = Harness(maxConcurrentCalls: 2)
        harness.answerLoads = false
        harness.join("d1", slots: 10)
        harness.run(Harness.acme, contacts: Harness.contacts(1...1))
        harness.answerHeldLoads()
        let offer = harness.takeOffers()[0]
        guard case .commit(let committing) = harness.core.beginRequested(offer.attempt, by: offer.dialer, now: harness.now) else {
            Issue.record("no commit"); return
        }
        // A resume meanwhile reloads the campaign from the start, and the load finds the
        // contact still pending in the database (its begin is not committed yet).
        harness.run(Harness.acme, version: 2, contacts: Harness.contacts(1...1))
        harness.answerHeldLoads()
        let (step, directives) = harness.core.beginCommitted(committing, .go, now: harness.now)
        harness.perform(directives)
        #expect(harness.goAhead(offer.attempt, from: step) == .answer(BeginCallReply(go: true)))
        #expect(harness.core.queuedContacts == 0)
        #expect(harness.takeOffers().isEmpty)
    }

    /// The manager bounds renewals too: a dialer that keeps asking cannot make the window forget
    /// go-aheads for ever.
    @Test func renewalsAreBounded() {
        var harness = Harness.dialing(1, callsPerSecond: 2)
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        for _ in 0..<BeginCall.maxRenewals {
            let step = harness.core.renewRequested(offer.attempt, byName: "d1", now: harness.now)
            guard case .answer(let reply) = harness.goAhead(offer.attempt, from: step) else { Issue.record("no answer"); return }
            #expect(reply.go)
        }
        #expect(harness.core.renewRequested(offer.attempt, byName: "d1", now: harness.now)
                == .answer(BeginCallReply(go: false, reason: "renewed \(BeginCall.maxRenewals) times already")))
    }
}

/// Calling windows in the core: a begin refused because the callee's window is closed is not
/// requeued; the campaign's queue is read again when the window opens.
@Suite struct DispatchCoreWindowTests {
    typealias Harness = DispatchHarness

    @Test func aContactOutsideItsWindowIsReadAgainWhenTheWindowOpens() {
        var harness = Harness.dialing(2)
        let offers = harness.takeOffers()
        guard case .commit(let committing) = harness.core.beginRequested(offers[0].attempt, by: offers[0].dialer, now: harness.now) else {
            Issue.record("no commit"); return
        }
        let (step, directives) = harness.core.beginCommitted(committing, .outsideWindow(opensInMilliseconds: 3_600_000), now: harness.now)
        harness.perform(directives)
        #expect(step == .answer(BeginCallReply(go: false, reason: "outsideWindow(opensInMilliseconds: 3600000)")))
        #expect(harness.wakes.last == harness.now.advanced(by: .seconds(3600)))
        #expect(harness.core.queuedContacts == 0 && harness.takeOffers().isEmpty)
        // An hour later the queue is read from the start: the contact (still pending) comes back.
        harness.advance(.seconds(3600))
        harness.tick()
        #expect(harness.takeOffers().map(\.contact.seq) == [1])
    }

    /// A hangup the retry policy redials: the contact (pending again, not callable before its
    /// delay) is looked for when the delay has passed, however far the queue has moved on.
    @Test func aRedialIsReadAgainWhenItsDelayHasPassed() {
        var harness = Harness.dialing(1)
        let offer = harness.takeOffers()[0]
        harness.go(offer)
        harness.report(offer.attempt, .accepted(requestUUID: "r"))
        let redial = DispatchEffect(transition: Transition(next: ContactState(status: .pending, attempt: offer.attempt, attemptsMade: 1),
                                                           counters: CounterMove(from: .dialed, to: .pending), releasesSlot: true,
                                                           failureReason: .busy, redialAfterSeconds: 600),
                                    contact: offer.contact, campaign: Harness.acme.seq)
        harness.perform(harness.core.changed(by: redial, now: harness.now))
        #expect(harness.core.liveCalls == 0 && harness.takeOffers().isEmpty)
        #expect(harness.wakes.contains(harness.now.advanced(by: .seconds(600))))
        harness.advance(.seconds(599))
        harness.tick()
        #expect(harness.takeOffers().isEmpty)
        harness.advance(.seconds(1))
        harness.tick()
        #expect(harness.takeOffers().map(\.contact.seq) == [offer.contact.seq])
    }

    /// A campaign's `start_at` and `end_at` fire once, when due; a begin committed before the end
    /// and still waiting for its pacing slot does not go after it.
    @Test func deadlinesFireWhenDueAndNothingGoesAfterTheEnd() {
        var harness = Harness.dialing(3, callsPerSecond: 2)
        harness.perform(harness.core.deadlines(7, startsIn: .seconds(60), endsIn: nil, now: harness.now))
        harness.perform(harness.core.deadlines(Harness.acme.seq, startsIn: nil, endsIn: .milliseconds(700), now: harness.now))
        #expect(harness.wakes.contains(harness.now.advanced(by: .milliseconds(700))))
        let offers = harness.takeOffers()
        #expect(harness.go(offers[0]) == .answer(BeginCallReply(go: true, heldMicroseconds: 0, sendWithinMicroseconds: 5000)))
        let waiting = harness.begin(offers[1])
        guard case .waitUntil(let slot) = waiting else { Issue.record("no wait: \(waiting)"); return }
        // The end comes (its wake-up a little late), before the slot's go-ahead is asked for.
        harness.advance(.milliseconds(800))
        #expect(slot < harness.now)
        let (step, _) = harness.core.goDue(offers[1].attempt, now: harness.now, dialerGone: false)
        guard case .settle(let report, let reply) = step, case .notPlaced = report.outcome else { Issue.record("went: \(step)"); return }
        #expect(!reply.go)
        harness.tick()
        #expect(harness.ended == [Harness.acme.seq] && harness.started.isEmpty)
        harness.advance(.seconds(60))
        harness.tick()
        harness.tick()
        #expect(harness.started == [7] && harness.ended == [Harness.acme.seq], "each fires once")
    }

    @Test func aLoadThatLeavesContactsWaitingArmsTheirOpening() {
        var harness = Harness(maxConcurrentCalls: 10)
        harness.answerLoads = false
        harness.join("d1", slots: 10)
        harness.run(Harness.acme, contacts: Harness.contacts(1...3))
        let (campaign, queue, load) = harness.heldLoads.removeFirst()
        // The store read three rows and found one callable; the others open in ten minutes.
        harness.perform(harness.core.loaded(campaign: campaign, queue: queue, [QueuedContact(seq: 2, phoneNumber: "15552")], by: load,
                                            scanned: 3, lastPosition: 3, windowOpensIn: .seconds(600), now: harness.now))
        #expect(harness.takeOffers().map(\.contact.seq) == [2])
        #expect(harness.wakes.contains(harness.now.advanced(by: .seconds(600))))
    }
}
