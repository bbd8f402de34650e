import Dialing
import Testing

/// The "go" gate over a virtual hour: begins always waiting (the dispatcher keeps `lookahead`
/// of them ahead of the gate), each woken at its slot or at the window's opening, late by an
/// injected amount, the way timers and a busy box wake up.
struct PacerTests {
    /// Lateness of a wake-up: usually a little, sometimes a lot, now and then a stall.
    struct Lateness {
        private var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> Duration {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let roll = Int((state >> 33) % 1000)
            let fraction = Int((state >> 13) % 1000)
            switch roll {
            case 0..<900: return .microseconds(fraction * 2)          // 0–2 ms
            case 900..<990: return .microseconds(2000 + fraction * 18) // 2–20 ms
            default: return .milliseconds(50 + fraction * 150 / 1000)  // 50–200 ms stalls
            }
        }

        static let none = Lateness(seed: 0)
    }

    /// Go-ahead instants over `duration`, with `lookahead` begins waiting at any time.
    static func simulate(callsPerSecond: Double, lookahead: Int, duration: Duration, lateness: Lateness?) async -> [VirtualInstant] {
        var pacer = Pacer<VirtualInstant>(callsPerSecond: callsPerSecond)!
        var late = lateness
        func wake(_ at: VirtualInstant) -> VirtualInstant { late == nil ? at : at.advanced(by: late!.next()) }
        let end = VirtualInstant.start.advanced(by: duration)
        // (wake-up time, reserved slot) of each waiting begin.
        var waiting: [(wake: VirtualInstant, slot: VirtualInstant)] = []
        for _ in 0..<lookahead {
            let slot = pacer.reserveSlot(now: .start)
            waiting.append((wake(slot), slot))
        }
        var goes: [VirtualInstant] = []
        while let index = waiting.indices.min(by: { waiting[$0].wake < waiting[$1].wake }) {
            let now = waiting[index].wake
            guard now < end else { break }
            if let opens = pacer.windowOpens, now < opens {
                waiting[index].wake = wake(opens)
                continue
            }
            pacer.recordGo(at: now)
            goes.append(now)
            // A virtual hour is long work: let the process tests sharing the pool run meanwhile.
            if goes.count % 2000 == 0 { await Task.yield() }
            // The next begin arrives as this one is answered and reserves its slot.
            let slot = pacer.reserveSlot(now: now)
            waiting[index] = (wake(slot), slot)
        }
        return goes
    }

    /// The most go-aheads in any one-second window.
    static func busiestSecond(_ goes: [VirtualInstant]) -> Int {
        var busiest = 0
        var first = 0
        for (last, instant) in goes.enumerated() {
            while goes[first].advanced(by: .seconds(1)) <= instant { first += 1 }
            busiest = max(busiest, last - first + 1)
        }
        return busiest
    }

    static func lookahead(_ callsPerSecond: Double) -> Int { 2 + Int((callsPerSecond / 4).rounded(.up)) }

    @Test(arguments: [2.0, 10.0, 100.0])
    func anHourNeverExceedsTheLimitAndKeepsTheRate(callsPerSecond: Double) async {
        for lateness in [nil, Lateness(seed: 42), Lateness(seed: 7)] {
            let goes = await Self.simulate(callsPerSecond: callsPerSecond, lookahead: Self.lookahead(callsPerSecond),
                                     duration: .seconds(3600), lateness: lateness)
            let limit = Int(callsPerSecond)
            #expect(Self.busiestSecond(goes) <= limit, "\(callsPerSecond) CPS, late wake-ups \(lateness != nil)")
            let rate = Double(goes.count) / 3600
            #expect(rate <= callsPerSecond)
            // The cadence runs `Pacing.cadenceMargin` (0.9%) slow to absorb go-to-Plivo jitter; the
            // late wake-ups must cost nothing beyond it.
            #expect(rate >= callsPerSecond / Pacing.cadenceMargin * 0.999, "\(callsPerSecond) CPS: \(rate)/s with late wake-ups \(lateness != nil)")
            let deviation: Double = (rate / callsPerSecond - 1) * 100
            print("pacer \(callsPerSecond) CPS, late wake-ups \(lateness != nil): \(goes.count) goes, \(rate)/s (\(deviation)%), busiest second \(Self.busiestSecond(goes))")
        }
    }

    @Test func aFractionalRateAllowsTheRoundedUpCountButKeepsTheAverage() async {
        let goes = await Self.simulate(callsPerSecond: 2.5, lookahead: Self.lookahead(2.5), duration: .seconds(600), lateness: Lateness(seed: 3))
        #expect(Self.busiestSecond(goes) <= 3)
        #expect(Double(goes.count) / 600 <= 2.5)
        #expect(Double(goes.count) / 600 >= 2.5 / Pacing.cadenceMargin * 0.995)
    }

    @Test func afterALullTheCadenceStartsAfreshInsteadOfBursting() {
        var pacer = Pacer<VirtualInstant>(callsPerSecond: 10)!
        let first = pacer.reserveSlot(now: .start)
        #expect(first == .start)
        let afterLull = VirtualInstant.start.advanced(by: .seconds(60))
        #expect(pacer.reserveSlot(now: afterLull) == afterLull)
        #expect(pacer.reserveSlot(now: afterLull) == afterLull.advanced(by: pacer.interval))
    }

    @Test func theWindowHoldsALateBurstBack() {
        var pacer = Pacer<VirtualInstant>(callsPerSecond: 2)!
        let start = VirtualInstant.start
        pacer.recordGo(at: start)
        #expect(pacer.windowOpens == nil)
        pacer.recordGo(at: start.advanced(by: .milliseconds(900)))
        // Two in the window: the third waits until the first is a second (and the guard) old.
        #expect(pacer.windowOpens == start.advanced(by: .seconds(1) + Pacing.windowGuard))
        pacer.recordGo(at: start.advanced(by: .seconds(1) + Pacing.windowGuard))
        #expect(pacer.windowOpens == start.advanced(by: .milliseconds(1900) + Pacing.windowGuard))
    }

    @Test func noPacerWithoutALimit() {
        #expect(Pacer<VirtualInstant>(callsPerSecond: 0) == nil)
    }
}
