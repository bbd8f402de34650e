import Dialing
import Protocol
import Testing

/// Pacing where Plivo counts it: the moment each request leaves the dialer. A virtual hour of a
/// whole placement's path through the core (begin over the network, commit, wait for the slot,
/// go-ahead back over the network, the dialer's own work before sending), with every hop late by
/// injected amounts and now and then stalled.
@Suite(.serialized) struct SendPacingTests {
    typealias Core = DispatchCore<VirtualInstant>

    struct Outcome {
        var sends: [VirtualInstant] = []
        var renewals = 0
    }

    /// A min-heap of timed events, for a simulation of hundreds of thousands of them.
    struct Timeline<Event> {
        private var heap: [(at: VirtualInstant, order: Int, event: Event)] = []
        private var count = 0

        mutating func schedule(_ event: Event, at instant: VirtualInstant) {
            count += 1
            heap.append((instant, count, event))
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.before(heap[child], heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func next() -> (VirtualInstant, Event)? {
            guard !heap.isEmpty else { return nil }
            heap.swapAt(0, heap.count - 1)
            let first = heap.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, Self.before(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, Self.before(heap[right], heap[smallest]) { smallest = right }
                guard smallest != parent else { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
            return (first.at, first.event)
        }

        private static func before(_ a: (at: VirtualInstant, order: Int, event: Event), _ b: (at: VirtualInstant, order: Int, event: Event)) -> Bool {
            a.at == b.at ? a.order < b.order : a.at < b.at
        }
    }

    enum Event {
        case beginArrives(attempt: Int64, renew: Bool)
        case committed(Core.Offer)
        case slot(attempt: Int64)
        case goArrives(attempt: Int64, BeginCallReply)
        case reported(attempt: Int64)
    }

    /// Delay of a network hop or of a process's work: usually well under a millisecond, now and
    /// then a stall (a descheduled process, a busy box).
    struct Delay {
        private var state: UInt64
        let stallChance: Int  // per 10,000

        init(seed: UInt64, stallChance: Int) {
            state = seed
            self.stallChance = stallChance
        }

        mutating func next() -> Duration {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let roll = Int((state >> 33) % 10_000)
            let fraction = Int((state >> 13) % 1000)
            if roll < stallChance { return .milliseconds(5 + fraction * 95 / 1000) }  // 5–100 ms
            return .microseconds(50 + fraction)  // 0.05–1.05 ms
        }
    }

    static func simulate(callsPerSecond: Double, duration: Duration, seed: UInt64, honourSlots: Bool) async -> Outcome {
        var harness = DispatchHarness(callsPerSecond: callsPerSecond, maxConcurrentCalls: 1000)
        let dialer = harness.join("d1", slots: 1000)
        harness.run(DispatchHarness.acme, contacts: DispatchHarness.contacts(1...Int64(callsPerSecond * Double(duration.components.seconds) * 1.1 + 100)))
        var network = Delay(seed: seed, stallChance: 10)
        var work = Delay(seed: seed &+ 1, stallChance: 10)
        var commit = Delay(seed: seed &+ 2, stallChance: 50)
        var timer = PacerTests.Lateness(seed: seed &+ 3)
        var timeline = Timeline<Event>()
        var askedAt: [Int64: VirtualInstant] = [:]
        var outcome = Outcome()
        let end = VirtualInstant.start.advanced(by: duration)

        func offerBegins(_ harness: inout DispatchHarness, _ timeline: inout Timeline<Event>) {
            for offer in harness.takeOffers() {
                // The offer reaches the dialer, which asks to begin at once.
                let asked = harness.now.advanced(by: network.next())
                askedAt[offer.attempt] = asked
                timeline.schedule(.beginArrives(attempt: offer.attempt, renew: false), at: asked.advanced(by: network.next()))
            }
        }
        func follow(_ step: Core.BeginStep, of attempt: Int64, _ harness: inout DispatchHarness, _ timeline: inout Timeline<Event>) {
            switch step {
            case .commit(let offer): timeline.schedule(.committed(offer), at: harness.now.advanced(by: commit.next()))
            case .waitUntil(let instant): timeline.schedule(.slot(attempt: attempt), at: max(instant, harness.now).advanced(by: timer.next()))
            case .answer(let reply): timeline.schedule(.goArrives(attempt: attempt, reply), at: harness.now.advanced(by: network.next()))
            case .settle: Issue.record("nothing is listed and no dialer leaves here")
            }
        }

        offerBegins(&harness, &timeline)
        var events = 0
        while let (instant, event) = timeline.next(), instant < end {
            // A virtual hour is long work: let the process tests sharing the pool run meanwhile.
            events += 1
            if events % 2000 == 0 { await Task.yield() }
            harness.now = instant
            switch event {
            case .beginArrives(let attempt, let renew):
                let step = renew ? harness.core.renewRequested(attempt, byName: "d1", now: instant)
                                 : harness.core.beginRequested(attempt, by: dialer, now: instant)
                follow(step, of: attempt, &harness, &timeline)
            case .committed(let offer):
                let (step, directives) = harness.core.beginCommitted(offer, .go, now: instant)
                harness.perform(directives)
                follow(step, of: offer.attempt, &harness, &timeline)
            case .slot(let attempt):
                let (step, directives) = harness.core.goDue(attempt, now: instant, dialerGone: false)
                harness.perform(directives)
                follow(step, of: attempt, &harness, &timeline)
            case .goArrives(let attempt, let reply):
                #expect(reply.go)
                // The dialer's own work before the request leaves (building it, connecting).
                let sendAt = instant.advanced(by: work.next())
                let deadline = reply.heldMicroseconds.flatMap { held in
                    reply.sendWithinMicroseconds.map { askedAt[attempt]!.advanced(by: .microseconds(held + $0)) }
                }
                if honourSlots, let deadline, sendAt > deadline {
                    outcome.renewals += 1
                    askedAt[attempt] = sendAt
                    timeline.schedule(.beginArrives(attempt: attempt, renew: true), at: sendAt.advanced(by: network.next()))
                } else {
                    outcome.sends.append(sendAt)
                    timeline.schedule(.reported(attempt: attempt), at: sendAt.advanced(by: .milliseconds(2)))
                }
            case .reported(let attempt):
                harness.report(attempt, .accepted(requestUUID: "r\(attempt)"), effect: DispatchHarness.callEnded)
            }
            offerBegins(&harness, &timeline)
        }
        outcome.sends.sort()
        return outcome
    }

    @Test(arguments: [2.0, 10.0, 100.0])
    func anHourOfSendsNeverExceedsTheLimitAndKeepsTheRate(callsPerSecond: Double) async {
        let hour = Duration.seconds(3600)
        let outcome = await Self.simulate(callsPerSecond: callsPerSecond, duration: hour, seed: 11, honourSlots: true)
        let rate = Double(outcome.sends.count) / 3600
        let busiest = PacerTests.busiestSecond(outcome.sends)
        print("sends \(callsPerSecond) CPS: \(outcome.sends.count) in an hour, \(rate)/s (\((rate / callsPerSecond - 1) * 100)%), busiest second \(busiest), renewals \(outcome.renewals)")
        #expect(busiest <= Int(callsPerSecond))
        #expect(rate <= callsPerSecond)
        #expect(rate >= callsPerSecond * 0.99)
    }

    /// The same stalls with dialers that send whenever their go-ahead arrives: the sends bunch
    /// over the limit, which is what the slot in the go-ahead prevents.
    @Test func withoutTheSlotInTheGoAheadStalledSendsBunchOverTheLimit() async {
        let outcome = await Self.simulate(callsPerSecond: 100, duration: .seconds(600), seed: 11, honourSlots: false)
        #expect(PacerTests.busiestSecond(outcome.sends) > 100)
    }
}
