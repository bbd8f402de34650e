import Foundation
@testable import Manager
import Protocol
import Runtime
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
        directory = NSTemporaryDirectory() + "rymi-manager-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try Store(path: directory + "/rymi.sqlite")
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
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "agent", callFromNumber: "14155550100"))
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

    /// Waits (without sleeping) until `condition` holds: the shell's tasks run as the test yields.
    func eventually(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<10_000 {
            if await condition() { return true }
            await Task.yield()
        }
        return await condition()
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
        let directory = NSTemporaryDirectory() + "rymi-load-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(path: directory + "/rymi.sqlite")
        let campaign = try await store.createCampaign(CreateCampaign(account: "acme", name: "c", agentID: "a", callFromNumber: nil, timezone: "Etc/GMT"))
        // One callee where it is always noon (a fixed zone chosen now), one at midnight.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let hour = utc.component(.hour, from: Date())
        func zone(_ offset: Int) -> String {
            let wrapped = offset > 12 ? offset - 24 : offset < -11 ? offset + 24 : offset
            return wrapped == 0 ? "Etc/GMT" : wrapped > 0 ? "Etc/GMT-\(wrapped)" : "Etc/GMT+\(-wrapped)"
        }
        _ = try await store.uploadContacts(UploadContacts(account: "acme", campaignID: campaign.id, contacts: [
            NewContact(phoneNumber: "15552000001", variables: "{}", timezone: zone(12 - hour)),
            NewContact(phoneNumber: "15552000002", variables: "{}", timezone: zone(-hour)),
        ]))
        let seq = try await store.dispatchState(1)!.campaign.seq
        let first = try await store.pendingContacts(campaign: seq, after: 0, limit: 500)
        #expect(first.contacts.map(\.phoneNumber) == ["15552000001"] && first.scanned == 2)
        #expect(first.windowOpensAt != nil)
        // Read again (a resume, a restart): the waiting one is not read, and still announced.
        let again = try await store.pendingContacts(campaign: seq, after: 0, limit: 500)
        #expect(again.scanned == 1 && again.windowOpensAt == first.windowOpensAt)
    }
}
