@testable import Dialer
import Foundation
import Plivo
import Protocol
import Testing

/// The dialer's placement rules with the manager, Plivo and the clock replaced: what a begin,
/// a late go-ahead, a refused renewal, a stale lease and the dialer's DNC copy each lead to.
@Suite struct PlacementTests {
    /// A scripted manager and Plivo on a clock the test moves.
    final class World: @unchecked Sendable {
        let lock = NSLock()
        let start = ContinuousClock.now
        var elapsed = Duration.zero
        var replies: [Result<BeginCallReply, any Error>]
        var begins: [BeginCall] = []
        var deadlines: [ContinuousClock.Instant?] = []
        /// How long each send takes to be ready (connect), on the test's clock.
        var connect: [Duration]
        var answer: PlivoCallResult = .accepted(requestUUID: "req-1")

        init(replies: [Result<BeginCallReply, any Error>], connect: [Duration] = []) {
            self.replies = replies
            self.connect = connect
        }

        var now: ContinuousClock.Instant { lock.withLock { start + elapsed } }

        var edges: Placement.Edges {
            Placement.Edges(
                begin: { request in
                    try self.lock.withLock {
                        self.begins.append(request)
                        return try self.replies.removeFirst().get()
                    }
                },
                send: { deadline in
                    self.lock.withLock {
                        self.deadlines.append(deadline)
                        if !self.connect.isEmpty { self.elapsed += self.connect.removeFirst() }
                        if let deadline, self.start + self.elapsed > deadline { return .missedSlot }
                        return self.answer
                    }
                },
                now: { self.now }
            )
        }
    }

    static let offer = PlaceCall(attempt: 7, account: "acme", campaignID: "cmp_1", contactID: "ct_1", agentID: "a", from: "1555", to: "1666",
                                 leaseMilliseconds: 2000)
    static let pacedGo = BeginCallReply(go: true, heldMicroseconds: 400_000, sendWithinMicroseconds: 5000)

    @Test func aGoAheadInTimeIsSentOnceAndReported() async {
        let world = World(replies: [.success(Self.pacedGo)], connect: [.milliseconds(1)])
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        #expect(result == Placement.Result(outcome: .accepted(requestUUID: "req-1")))
        // The request may leave until the hold plus the send bound after the ask.
        #expect(world.deadlines == [world.start + .microseconds(405_000)])
    }

    /// A send that would leave after its slot is not sent; the dialer renews and sends in the new
    /// slot: one request to Plivo, one slot missed.
    @Test func aLateSendRenewsInsteadOfSendingLate() async {
        let world = World(replies: [.success(Self.pacedGo), .success(BeginCallReply(go: true, heldMicroseconds: 0, sendWithinMicroseconds: 5000))],
                          connect: [.milliseconds(406), .milliseconds(1)])
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        #expect(result == Placement.Result(outcome: .accepted(requestUUID: "req-1"), slotsMissed: 1))
        #expect(world.begins == [BeginCall(attempt: 7), BeginCall(attempt: 7, renew: true)])
    }

    /// A renewal the manager refuses (it restarted, or settled the placement): surely not sent,
    /// so reported as not placed and offered again.
    @Test func aRefusedRenewalIsReportedAsNotPlaced() async {
        let world = World(replies: [.success(Self.pacedGo), .success(BeginCallReply(go: false, reason: "no such placement to renew"))],
                          connect: [.milliseconds(500)])
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        #expect(result.outcome == .notPlaced(reason: "go-ahead not renewed: no such placement to renew", retryAfterMilliseconds: 0))
        #expect(result.slotsMissed == 1)
    }

    /// A link too slow for any slot (every go-ahead arrives late) does not renew for ever: after
    /// `maxRenewals` the request is sent without a slot.
    @Test func aDialerThatMissesEverySlotSendsAfterTheLastRenewal() async {
        let late = BeginCallReply(go: true, heldMicroseconds: 0, sendWithinMicroseconds: 5000)
        let world = World(replies: Array(repeating: .success(late), count: BeginCall.maxRenewals + 1),
                          connect: Array(repeating: .milliseconds(20), count: BeginCall.maxRenewals + 1))
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        #expect(result == Placement.Result(outcome: .accepted(requestUUID: "req-1"), slotsMissed: BeginCall.maxRenewals))
        #expect(world.deadlines.last == .some(nil))
        #expect(world.begins.count == BeginCall.maxRenewals + 1)
    }

    @Test func aRefusedBeginReportsNothing() async {
        let world = World(replies: [.success(BeginCallReply(go: false, reason: "campaignNotRunning"))])
        #expect(await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges) == Placement.Result())
        #expect(world.deadlines.isEmpty)
    }

    @Test func anUnansweredBeginIsReportedAsNotPlaced() async {
        struct Lost: Error {}
        let world = World(replies: [.failure(Lost())])
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        guard case .notPlaced(_, 0) = result.outcome else { Issue.record("\(result)"); return }
        #expect(world.deadlines.isEmpty)
    }

    @Test func aNumberOnTheDialersListIsSkippedAfterTheGoAhead() async {
        let world = World(replies: [.success(Self.pacedGo)])
        #expect(await Placement.run(Self.offer, received: world.now, listed: true, edges: world.edges) == Placement.Result(outcome: .skippedDNC))
        #expect(world.deadlines.isEmpty)
    }

    @Test func nothingIsSentOnceTheLeaseHasRunOut() async {
        let world = World(replies: [.success(BeginCallReply(go: true))])
        let result = await Placement.run(Self.offer, received: world.now - .milliseconds(2001), listed: false, edges: world.edges)
        #expect(result.outcome == .notPlaced(reason: "lease expired before sending", retryAfterMilliseconds: 0))
        #expect(world.deadlines.isEmpty)
    }

    @Test func anUnpacedGoAheadHasNoDeadline() async {
        let world = World(replies: [.success(BeginCallReply(go: true))], connect: [.seconds(1)])
        let result = await Placement.run(Self.offer, received: world.now, listed: false, edges: world.edges)
        #expect(result.outcome == .accepted(requestUUID: "req-1"))
        #expect(world.deadlines == [nil])
    }
}
