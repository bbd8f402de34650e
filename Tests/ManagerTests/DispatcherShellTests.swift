import Foundation
@testable import Manager
import Protocol
import Runtime
import SQLite
import TestSupport
import Testing

/// A dialer as the dispatcher sees it: offers are recorded and acknowledged at once.
final class FakeDialer: DialerLink, @unchecked Sendable {
    private let lock = NSLock()
    private var received: [PlaceCall] = []
    private var closed = false

    var isClosed: Bool { lock.withLock { closed } }
    var offers: [PlaceCall] { lock.withLock { received } }

    func close() { lock.withLock { closed = true } }

    func offer(_ call: PlaceCall, requestID: String?, timeout: Double) async throws {
        lock.withLock { received.append(call) }
    }

    func lookUp(_ request: LookupCall, timeout: Double) async throws -> CallLookup { .notFound }

    /// What Plivo answers to cancels, in turn (the last one repeats); the ids asked for.
    var cancelAnswers: [QueuedCallCancel] {
        get { lock.withLock { answers } }
        set { lock.withLock { answers = newValue } }
    }
    private var answers: [QueuedCallCancel] = [.canceled]
    private var canceledIDs: [String] = []
    var cancels: [String] { lock.withLock { canceledIDs } }

    func cancelQueued(_ request: CancelQueuedCall, timeout: Double) async throws -> QueuedCallCancel {
        lock.withLock {
            canceledIDs.append(request.requestUUID)
            return answers.count > 1 ? answers.removeFirst() : answers[0]
        }
    }
    func tell(_ update: DNCUpdate, requestID: String?) async throws {}
}

/// The dispatcher's shell with its edges replaced: a manual clock, fake dialers, and a real
/// SQLite store in a temporary directory. What the system tests could check only with real time
/// and real processes, checked here in virtual time.
@Suite struct DispatcherShellTests {
    let directory: String
    let store: Store
    let clock = ManualClock()

    init() throws {
        (directory, store) = try temporaryStore("rymi-manager-tests-")
    }

    func dispatcher(callsPerSecond: Double) async throws -> Dispatcher {
        var configuration = DispatchConfiguration()
        configuration.callsPerSecond = callsPerSecond
        let dispatcher = Dispatcher(store: store, configuration: configuration, logger: Logger(service: "test", minimumLevel: .error), clock: clock)
        try await dispatcher.start()
        return dispatcher
    }

    /// A running campaign of `count` contacts; returns its id and seq.
    func runningCampaign(_ count: Int, on dispatcher: Dispatcher) async throws -> (id: String, seq: Int64) {
        try await store.seedNumbers([("acme", "14155550100")])
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "agent", callFromNumber: "14155550100",
                                                                     timezone: middayZone))
        let contacts = (0..<count).map { NewContact(phoneNumber: "1555123\(String(format: "%04d", $0))", variables: "{}") }
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: contacts))
        let started = try await store.startCampaign(StartCampaign(account: "acme", campaignID: campaign.id))
        await dispatcher.sync(started.seq)
        return (campaign.id, started.seq)
    }

    /// A dispatcher with one fake dialer "d1" and a running campaign of `count` contacts, once
    /// every contact has been offered.
    func dialing(_ count: Int, callsPerSecond: Double) async throws -> (Dispatcher, FakeDialer, campaign: (id: String, seq: Int64)) {
        let dispatcher = try await dispatcher(callsPerSecond: callsPerSecond)
        let dialer = FakeDialer()
        await dispatcher.register(dialer, name: "d1", slots: 10)
        let campaign = try await runningCampaign(count, on: dispatcher)
        #expect(await eventually { dialer.offers.count == count })
        return (dispatcher, dialer, campaign)
    }

    func status(_ contactID: String, of campaign: String) async throws -> ContactStatus {
        let request = GetContact(account: "acme", campaignID: campaign, contactID: contactID)
        return try await Reader(path: directory + "/rymi.sqlite").read { try $0.contact(request).status }
    }

    /// `aNumberListedWhileItsBeginWaitsForItsSlotIsNotCalled`, without waiting half a second: the
    /// begin waits on the manual clock, the number is listed, the clock moves, and the answer
    /// is no, with the contact `skipped_dnc` in the database.
    @Test func aNumberListedWhileItsBeginWaitsForItsSlotIsNotCalled() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(2, callsPerSecond: 2)
        let (first, second) = (dialer.offers[0], dialer.offers[1])
        let go = try await dispatcher.begin(BeginCall(attempt: first.attempt), from: dialer, dialerName: "d1")
        #expect(go.go && go.heldMicroseconds != nil && go.sendWithinMicroseconds == 5000)
        let waiting = Task { try await dispatcher.begin(BeginCall(attempt: second.attempt), from: dialer, dialerName: "d1") }
        #expect(await eventually { clock.sleeping > 0 })
        _ = try await store.addDNC(AddDNC(account: "acme", numbers: [second.to]))
        await dispatcher.listed(account: "acme", numbers: [second.to])
        clock.advance(by: .seconds(1))
        let answer = try await waiting.value
        #expect(!answer.go)
        #expect(try await status(second.contactID, of: campaign.id) == .skippedDNC)
    }

    /// Pause answers only once the campaign's begun placements have reported, released by the
    /// report itself (no polling, no timeout reached).
    @Test func waitingForBegunPlacementsEndsWithTheirReport() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(1, callsPerSecond: 0)
        let offer = dialer.offers[0]
        #expect(try await dispatcher.begin(BeginCall(attempt: offer.attempt), from: dialer, dialerName: "d1").go)
        let released = ManagerFlag()
        let waiter = Task {
            await dispatcher.waitForBegunPlacements { $0.campaign == campaign.seq }
            released.set()
        }
        for _ in 0..<100 { await Task.yield() }
        #expect(!released.isSet)
        try await dispatcher.report(ReportPlacement(attempt: offer.attempt, contactID: offer.contactID, outcome: .accepted(requestUUID: "r")), from: "d1")
        await waiter.value
        #expect(released.isSet)
        #expect(try await status(offer.contactID, of: campaign.id) == .dialed)
    }

    /// An offer acknowledged and never begun expires at its lease on the clock, and the contact
    /// goes to another dialer: the system test waits 2 s of real time for this.
    @Test func anOfferNeverBegunGoesToAnotherDialerAtItsLease() async throws {
        let dispatcher = try await dispatcher(callsPerSecond: 0)
        let rogue = FakeDialer()
        await dispatcher.register(rogue, name: "rogue", slots: 10)
        _ = try await runningCampaign(1, on: dispatcher)
        #expect(await eventually { rogue.offers.count == 1 })
        let honest = FakeDialer()
        await dispatcher.register(honest, name: "honest", slots: 10)
        for _ in 0..<100 { await Task.yield() }
        #expect(honest.offers.isEmpty)
        clock.advance(by: .milliseconds(2000))
        #expect(await eventually { honest.offers.count == 1 })
        #expect(honest.offers.first?.contactID == rogue.offers[0].contactID)
        let late = try await dispatcher.begin(BeginCall(attempt: rogue.offers[0].attempt), from: rogue, dialerName: "rogue")
        #expect(!late.go)
    }

    /// A dialer's connection closed while its begin waited for the slot: it never heard "go",
    /// so the contact is pending again, not presumed placed.
    @Test func aDialerGoneBeforeItsGoAheadLeavesTheContactPending() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(2, callsPerSecond: 2)
        _ = try await dispatcher.begin(BeginCall(attempt: dialer.offers[0].attempt), from: dialer, dialerName: "d1")
        let second = dialer.offers[1]
        let waiting = Task { try await dispatcher.begin(BeginCall(attempt: second.attempt), from: dialer, dialerName: "d1") }
        #expect(await eventually { clock.sleeping > 0 })
        dialer.close()
        clock.advance(by: .seconds(1))
        #expect(try await !waiting.value.go)
        #expect(try await status(second.contactID, of: campaign.id) == .pending)
    }

    // MARK: Calls Plivo holds queued

    /// Two contacts begun; each reported with its outcome by "d1".
    func placed(_ outcomes: [PlacementOutcome], on dispatcher: Dispatcher, dialer: FakeDialer) async throws {
        for (offer, outcome) in zip(dialer.offers, outcomes) {
            #expect(try await dispatcher.begin(BeginCall(attempt: offer.attempt), from: dialer, dialerName: "d1").go)
            try await dispatcher.report(ReportPlacement(attempt: offer.attempt, contactID: offer.contactID, outcome: outcome), from: "d1")
        }
    }

    func useCases(_ dispatcher: Dispatcher) -> DialingUseCases {
        DialingUseCases(store: store, dispatcher: dispatcher, logger: Logger(service: "test", minimumLevel: .error))
    }

    func contact(_ contactID: String, of campaign: String) async throws -> ContactRecord {
        let request = GetContact(account: "acme", campaignID: campaign, contactID: contactID)
        return try await Reader(path: directory + "/rymi.sqlite").read { try $0.contact(request) }
    }

    /// Pause answers once Plivo confirmed the cancel of the call it held queued, reported while
    /// the pause waited for its placement: that contact is pending again, with the attempt
    /// recorded as canceled at Plivo; the call Plivo had started is left to finish.
    @Test func aPauseCancelsTheCallsPlivoHoldsQueued() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(2, callsPerSecond: 0)
        let (first, second) = (dialer.offers[0], dialer.offers[1])
        try await placed([.accepted(requestUUID: "r0")], on: dispatcher, dialer: dialer)
        #expect(try await dispatcher.begin(BeginCall(attempt: second.attempt), from: dialer, dialerName: "d1").go)
        let pause = Task { try await useCases(dispatcher).pause(PauseCampaign(account: "acme", campaignID: campaign.id)) }
        for _ in 0..<100 { await Task.yield() }
        try await dispatcher.report(ReportPlacement(attempt: second.attempt, contactID: second.contactID, outcome: .queued(requestUUID: "r1")), from: "d1")
        _ = try await pause.value
        #expect(dialer.cancels == ["r1"])
        let canceled = try await contact(second.contactID, of: campaign.id)
        #expect(canceled.status == .pending && canceled.attempts.last?.outcome == "canceled_at_plivo")
        #expect(try await status(first.contactID, of: campaign.id) == .dialed)
        #expect(await dispatcher.status.liveCalls == 1)
    }

    /// A number listed while Plivo holds its call queued: the call is canceled and the contact
    /// skipped; another contact's queued call goes on, and so does the campaign.
    @Test func aDNCAdditionCancelsTheQueuedCallOfThatNumberOnly() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(2, callsPerSecond: 0)
        try await placed([.queued(requestUUID: "r0"), .queued(requestUUID: "r1")], on: dispatcher, dialer: dialer)
        let listed = dialer.offers[0]
        _ = try await useCases(dispatcher).addDNC(AddDNC(account: "acme", numbers: [listed.to]), requestID: nil)
        #expect(dialer.cancels == ["r0"])
        let skipped = try await contact(listed.contactID, of: campaign.id)
        #expect(skipped.status == .skippedDNC && skipped.attempts.last?.outcome == "canceled_at_plivo")
        #expect(try await status(dialer.offers[1].contactID, of: campaign.id) == .dialed)
        #expect(await dispatcher.status.liveCalls == 1)
    }

    /// Plivo unreachable for the cancel: the pause still answers, and the reconciler asks again
    /// after `stopRetry` until Plivo confirms it.
    @Test func aCancelPlivoCouldNotTakeIsAskedAgain() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(1, callsPerSecond: 0)
        dialer.cancelAnswers = [.unavailable(reason: "Plivo answered HTTP 503"), .canceled]
        try await placed([.queued(requestUUID: "r0")], on: dispatcher, dialer: dialer)
        _ = try await useCases(dispatcher).pause(PauseCampaign(account: "acme", campaignID: campaign.id))
        #expect(dialer.cancels == ["r0"])
        #expect(try await status(dialer.offers[0].contactID, of: campaign.id) == .dialed)
        for _ in 0..<6 {
            clock.advance(by: .milliseconds(500))
            _ = await eventually { dialer.cancels.count == 2 }
        }
        #expect(dialer.cancels == ["r0", "r0"])
        #expect(await eventually { (try? await status(dialer.offers[0].contactID, of: campaign.id)) == .pending })
    }

    /// A placement begun before the cancel and reported "not placed" after it: the contact is
    /// canceled, not pending in a campaign that will never run again.
    @Test func aContactReleasedAfterItsCampaignWasCanceledIsCanceled() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(2, callsPerSecond: 0)
        let (first, second) = (dialer.offers[0], dialer.offers[1])
        #expect(try await dispatcher.begin(BeginCall(attempt: first.attempt), from: dialer, dialerName: "d1").go)
        let cancel = Task { try await useCases(dispatcher).cancel(CancelCampaign(account: "acme", campaignID: campaign.id), requestID: nil) }
        for _ in 0..<100 { await Task.yield() }
        try await dispatcher.report(ReportPlacement(attempt: first.attempt, contactID: first.contactID,
                                                    outcome: .notPlaced(reason: "lease expired before sending", retryAfterMilliseconds: 0)), from: "d1")
        _ = try await cancel.value
        #expect(try await status(first.contactID, of: campaign.id) == .canceled)
        #expect(try await status(second.contactID, of: campaign.id) == .canceled)
        #expect(await dispatcher.status.liveCalls == 0)
    }

    /// The call started before the cancel reached Plivo (404): it is recorded as usual.
    @Test func aQueuedCallThatStartedFirstEndsAsUsual() async throws {
        let (dispatcher, dialer, campaign) = try await dialing(1, callsPerSecond: 0)
        dialer.cancelAnswers = [.notQueued]
        try await placed([.queued(requestUUID: "r0")], on: dispatcher, dialer: dialer)
        let offer = dialer.offers[0]
        _ = try await useCases(dispatcher).pause(PauseCampaign(account: "acme", campaignID: campaign.id))
        #expect(try await status(offer.contactID, of: campaign.id) == .dialed)
        _ = try await dispatcher.callEvent(CallEvent(kind: .hangup, contactID: offer.contactID, attempt: offer.attempt, callUUID: "c0",
                                                     requestUUID: "r0", callStatus: "completed"))
        #expect(try await status(offer.contactID, of: campaign.id) == .completed)
        // Nothing left to cancel: later sweeps ask Plivo nothing more.
        clock.advance(by: .seconds(3))
        for _ in 0..<200 { await Task.yield() }
        #expect(dialer.cancels == ["r0"])
    }
}

/// `start_at` and `end_at` on the injected clock: the deadlines live in the database, so a
/// manager that restarts (a new dispatcher over the same file) still acts on them.
@Suite struct CampaignScheduleTests {
    let directory: String
    let store: Store
    let clock = ManualClock()

    init() throws {
        (directory, store) = try temporaryStore("rymi-schedule-tests-")
    }

    /// A dispatcher started over the store, as after a restart, with one fake dialer.
    func restartedDispatcher() async throws -> (Dispatcher, FakeDialer) {
        let dispatcher = Dispatcher(store: store, configuration: DispatchConfiguration(callsPerSecond: 0),
                                    logger: Logger(service: "test", minimumLevel: .error), clock: clock)
        try await dispatcher.start()
        let dialer = FakeDialer()
        await dispatcher.register(dialer, name: "d1", slots: 10)
        return (dispatcher, dialer)
    }

    func campaign(contacts: Int, startAt: Int64? = nil, endAt: Int64? = nil) async throws -> String {
        try await store.seedNumbers([("acme", "14155550100")])
        var create = CreateCampaign(account: "acme", name: "c", agentID: "agent", callFromNumber: "14155550100", timezone: middayZone)
        create.startAt = startAt
        create.endAt = endAt
        let campaign = try await store.createCampaign(create)
        let numbers = (0..<contacts).map { NewContact(phoneNumber: "1555123\(String(format: "%04d", $0))", variables: "{}") }
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: numbers))
        return campaign.id
    }

    func status(_ id: String) async throws -> (CampaignStatus, ContactCounts) {
        let record = try await Reader(path: directory + "/rymi.sqlite").read { try $0.campaign(GetCampaign(account: "acme", campaignID: id)) }
        return (record.status, record.counts)
    }

    @Test func aScheduledCampaignStartsByItselfAtStartAtAfterARestart() async throws {
        let id = try await campaign(contacts: 2, startAt: Timestamp.nowMilliseconds() + 3_600_000)
        let started = try await store.startCampaign(StartCampaign(account: "acme", campaignID: id))
        #expect(started.scheduled && started.result.queued == 2)
        #expect(try await status(id).0 == .scheduled)
        // The manager restarts: the start is still to come, read from the database.
        let (_, dialer) = try await restartedDispatcher()
        // (Wall time passes between the campaign's creation and the restart: a minute's margin.)
        clock.advance(by: .seconds(3540))
        for _ in 0..<200 { await Task.yield() }
        let before = try await status(id).0
        #expect(dialer.offers.isEmpty && before == .scheduled)
        clock.advance(by: .seconds(60))
        #expect(await eventually { dialer.offers.count == 2 })
        #expect(try await status(id).0 == .running)
    }

    /// Clearing a scheduled campaign's `start_at` (or moving it into the past) starts it now.
    @Test func aScheduledCampaignWhoseStartAtIsClearedStartsNow() async throws {
        let id = try await campaign(contacts: 1, startAt: Timestamp.nowMilliseconds() + 3_600_000)
        let started = try await store.startCampaign(StartCampaign(account: "acme", campaignID: id))
        let (dispatcher, dialer) = try await restartedDispatcher()
        var update = UpdateCampaign(account: "acme", campaignID: id)
        update.startAt = 0
        _ = try await store.updateCampaign(update)
        await dispatcher.deadlinesChanged(started.seq)
        #expect(await eventually { dialer.offers.count == 1 })
        #expect(try await status(id).0 == .running)
    }

    @Test func endAtExpiresWhatWasNotCalledAndCompletesWhenCallsEnd() async throws {
        let id = try await campaign(contacts: 2, endAt: Timestamp.nowMilliseconds() + 600_000)
        let (dispatcher, dialer) = try await restartedDispatcher()
        let started = try await store.startCampaign(StartCampaign(account: "acme", campaignID: id))
        await dispatcher.sync(started.seq)
        await dispatcher.deadlinesChanged(started.seq)
        #expect(await eventually { dialer.offers.count == 2 })
        let first = dialer.offers[0]
        #expect(try await dispatcher.begin(BeginCall(attempt: first.attempt), from: dialer, dialerName: "d1").go)
        try await dispatcher.report(ReportPlacement(attempt: first.attempt, contactID: first.contactID, outcome: .accepted(requestUUID: "r")), from: "d1")
        clock.advance(by: .seconds(600))
        #expect(await eventually { (try? await status(id).1.expired) == 1 })
        #expect(try await status(id).0 == .running, "its live call has not ended")
        // The other offer, still held by the dialer, is refused now.
        #expect(try await !dispatcher.begin(BeginCall(attempt: dialer.offers[1].attempt), from: dialer, dialerName: "d1").go)
        _ = try await dispatcher.callEvent(CallEvent(kind: .hangup, contactID: first.contactID, attempt: first.attempt, callUUID: "c",
                                                     callStatus: "completed"))
        let (final, counts) = try await status(id)
        #expect(final == .completed && counts.completed == 1 && counts.expired == 1 && counts.pending == 0)
    }
}

/// A flag set from a task and read from the test.
final class ManagerFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// The store's side of calling windows: contacts waiting from before (a pause, a restart) are
/// not read, and every load still says when the first of them opens.
@Suite struct ContactLoadTests {
    @Test func aLoadTellsWhenContactsMarkedEarlierOpen() async throws {
        let (directory, store) = try temporaryStore("rymi-load-tests-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "a", callFromNumber: nil, timezone: "Etc/GMT"))
        // One callee where it is noon (a fixed zone chosen now), one at midnight.
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: [
            NewContact(phoneNumber: "15552000001", variables: "{}", timezone: middayZone),
            NewContact(phoneNumber: "15552000002", variables: "{}", timezone: zoneWhereItIsNow(hour: 0)),
        ]))
        let seq = try await store.dispatchState(1)!.campaign.seq
        let first = try await store.pendingContacts(campaign: seq, after: 0, limit: 500)
        #expect(first.contacts.map(\.phoneNumber) == ["15552000001"] && first.scanned == 2)
        #expect(first.windowOpensAt != nil)
        // Read again (a resume, a restart): the waiting one is not read, and still announced.
        let again = try await store.pendingContacts(campaign: seq, after: 0, limit: 500)
        #expect(again.scanned == 1 && again.windowOpensAt == first.windowOpensAt)
    }

    /// A redial's delay is the least wait: a contact whose redial is due while its calling window
    /// is closed waits for the window; one whose window is open waits for its delay. Either way
    /// the load says when to look again.
    @Test func aRedialWaitsForItsDelayAndThenForItsWindow() async throws {
        let (directory, store) = try temporaryStore("rymi-load-tests-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "a", callFromNumber: nil, timezone: "Etc/GMT"))
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: [
            NewContact(phoneNumber: "15552000001", variables: "{}", timezone: zoneWhereItIsNow(hour: 0)),
            NewContact(phoneNumber: "15552000002", variables: "{}", timezone: middayZone),
        ]))
        let now = Timestamp.nowMilliseconds()
        // Both were called once and failed busy: the first's redial is due (its window is shut),
        // the second's comes in ten minutes (its window is open).
        let database = try Database(path: directory + "/rymi.sqlite")
        try database.execute("""
            UPDATE contacts SET attempt_count = 1, next_attempt_at = \(now - 1000) WHERE phone_number = '15552000001';
            UPDATE contacts SET attempt_count = 1, next_attempt_at = \(now + 600_000) WHERE phone_number = '15552000002';
            """)
        let load = try await store.pendingContacts(campaign: 1, after: 0, limit: 500)
        #expect(load.contacts.isEmpty && load.scanned == 1, "the second waits for its delay; the first for its window")
        #expect(load.windowOpensAt == now + 600_000, "the next to look at is the redial due first")
        let waiting = try await Reader(path: directory + "/rymi.sqlite").read {
            try $0.contact(GetContact(account: "acme", campaignID: campaign.id, contactID: "ct_1"))
        }
        #expect((waiting.windowOpensAt ?? 0) > now, "the due redial waits for its window to open")
    }
}
