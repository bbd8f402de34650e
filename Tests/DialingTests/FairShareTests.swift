import Dialing
import Protocol
import Testing

/// Sharing the deployment's rate and concurrency: accounts take turns, then their campaigns;
/// campaigns and accounts keep their own limits. Virtual time throughout.
@Suite struct FairShareTests {
    typealias Harness = DispatchHarness

    static func campaign(_ seq: Int64, _ account: String, maxConcurrentCalls: Int? = nil, callsPerSecond: Double? = nil) -> DispatchCampaign {
        DispatchCampaign(seq: seq, id: "cmp_\(seq)", account: account, agentID: "agent", from: "15550000000",
                         maxConcurrentCalls: maxConcurrentCalls, callsPerSecond: callsPerSecond)
    }

    /// The effect of a call of `campaign` ending.
    static func ended(_ campaign: Int64) -> DispatchEffect {
        DispatchEffect(transition: Transition(next: ContactState(status: .completed), releasesSlot: true), campaign: campaign)
    }

    /// Places every offer as its go-ahead comes (each call ending at once), until `done` or
    /// `limit` of virtual time; returns when each campaign's calls went.
    mutating func dial(_ harness: inout Harness, for limit: Duration, until done: (Harness) -> Bool = { _ in false }) -> [Int64: [Duration]] {
        let start = harness.now
        var goes: [Int64: [Duration]] = [:]
        while start.duration(to: harness.now) < limit, !done(harness) {
            let offers = harness.takeOffers()
            if offers.isEmpty {
                harness.advance(.milliseconds(10))
                harness.tick()
                continue
            }
            for offer in offers {
                guard case .answer(let reply) = harness.go(offer), reply.go else { continue }
                goes[offer.campaign.seq, default: []].append(start.duration(to: harness.now))
                harness.report(offer.attempt, .accepted(requestUUID: "r"), effect: Self.ended(offer.campaign.seq))
            }
        }
        return goes
    }

    /// The case: an account with 1,000,000 pending contacts (in three campaigns) and
    /// another with ten, at 10 calls a second. Once the small one starts it takes every other
    /// slot, so its ten calls go within about 2 s: twenty slots, after the few offers already
    /// made ahead of the pacing gate (the lookahead, 5 slots at 10 CPS). By campaigns alone it
    /// would get every fourth slot, behind the big account's three.
    @Test func aSmallAccountIsNotHeldBackByAMillionContacts() {
        var harness = Harness(callsPerSecond: 10, maxConcurrentCalls: 1000)
        harness.join("d1", slots: 1000)
        harness.run(Self.campaign(1, "big"), contacts: Harness.contacts(1...1_000_000))
        for seq: Int64 in 2...3 { harness.run(Self.campaign(seq, "big"), contacts: Harness.contacts((seq * 1_000_000 + 1)...(seq * 1_000_000 + 1000))) }
        var test = self
        let steady = test.dial(&harness, for: .seconds(5))
        // The big account's campaigns share its turns.
        let shares = [1, 2, 3].map { (steady[$0] ?? []).filter { $0 >= .seconds(1) }.count }
        #expect(shares.max()! - shares.min()! <= 1, "\(shares)")
        harness.run(Self.campaign(4, "small"), contacts: Harness.contacts(5_000_001...5_000_010))
        let small = test.dial(&harness, for: .seconds(10)) { harness in harness.core.runningCampaigns == 4 && false }[4] ?? []
        #expect(small.count == 10)
        #expect((small.last ?? .seconds(99)) <= .milliseconds(2700), "the small account's last call went \(small.last ?? .zero) after it started")
    }

    @Test func aCampaignKeepsItsOwnConcurrencyLimit() {
        var harness = Harness(maxConcurrentCalls: 100)
        harness.join("d1", slots: 100)
        harness.run(Self.campaign(1, "acme", maxConcurrentCalls: 2), contacts: Harness.contacts(1...10))
        harness.run(Self.campaign(2, "acme"), contacts: Harness.contacts(11...20))
        let offers = harness.takeOffers()
        #expect(offers.filter { $0.campaign.seq == 1 }.count == 2 && offers.filter { $0.campaign.seq == 2 }.count == 10)
        // Its calls begun and live still count; when one ends, the next is offered.
        let first = offers.first { $0.campaign.seq == 1 }!
        harness.go(first)
        harness.report(first.attempt, .accepted(requestUUID: "r"))
        #expect(harness.takeOffers().isEmpty)
        harness.perform(harness.core.changed(by: Self.ended(1), now: harness.now))
        #expect(harness.takeOffers().map(\.campaign.seq) == [1])
    }

    @Test func anAccountCapHoldsAcrossItsCampaignsAndSparesOthers() {
        var harness = Harness(maxConcurrentCalls: 100)
        harness.core = Harness.Core(settings: {
            var settings = Harness.Core.Settings(callsPerSecond: 0, maxConcurrentCalls: 100)
            settings.accountMaxConcurrentCalls = 3
            return settings
        }())
        harness.join("d1", slots: 100)
        harness.run(Self.campaign(1, "acme"), contacts: Harness.contacts(1...10))
        harness.run(Self.campaign(2, "acme"), contacts: Harness.contacts(11...20))
        harness.run(Self.campaign(3, "globex"), contacts: Harness.contacts(21...25))
        let offers = harness.takeOffers()
        #expect(offers.filter { $0.campaign.account == "acme" }.count == 3)
        #expect(offers.filter { $0.campaign.account == "globex" }.count == 3, "globex has its own cap of 3")
    }

    /// Offers on the campaign's cadence are not enough: a dialer slow to begin one lets go-aheads
    /// bunch, so the go-aheads keep the campaign's one-second window too.
    @Test func aCampaignsGoAheadsKeepItsWindowWhenBeginsComeLate() {
        var harness = Harness(maxConcurrentCalls: 100)
        harness.join("d1", slots: 100)
        harness.run(Self.campaign(1, "acme", callsPerSecond: 2), contacts: Harness.contacts(1...3))
        let first = harness.takeOffers()
        #expect(first.count == 1)
        harness.advance(.milliseconds(510))
        harness.tick()
        let second = harness.takeOffers()
        #expect(second.count == 1)
        var goes: [VirtualInstant] = []
        if case .answer(let reply) = harness.go(second[0]), reply.go { goes.append(harness.now) }
        harness.advance(.milliseconds(390))
        if case .answer(let reply) = harness.go(first[0]), reply.go { goes.append(harness.now) }  // begun late, at 0.9 s
        harness.advance(.milliseconds(120))
        harness.tick()
        let third = harness.takeOffers()
        #expect(third.count == 1)
        if case .answer(let reply) = harness.go(third[0]), reply.go { goes.append(harness.now) }
        #expect(goes.count == 3)
        #expect(goes[0].duration(to: goes[2]) > .seconds(1), "three go-aheads within \(goes[0].duration(to: goes[2]))")
    }

    /// A campaign's own rate: never more go-aheads in a second than it allows, while another
    /// campaign uses the rest of the deployment's rate.
    @Test func aCampaignKeepsItsOwnRate() {
        var harness = Harness(callsPerSecond: 10, maxConcurrentCalls: 1000)
        harness.join("d1", slots: 1000)
        harness.run(Self.campaign(1, "acme", callsPerSecond: 2), contacts: Harness.contacts(1...100))
        harness.run(Self.campaign(2, "acme"), contacts: Harness.contacts(101...200))
        var test = self
        let goes = test.dial(&harness, for: .seconds(10))
        let slow = goes[1] ?? []
        for (index, go) in slow.enumerated() {
            let inWindow = slow[index...].prefix { $0 < go + .seconds(1) }.count
            #expect(inWindow <= 2, "\(inWindow) calls of the 2-a-second campaign within a second of \(go)")
        }
        #expect(slow.count >= 18 && slow.count <= 21, "\(slow.count) in 10 s: \(slow)")
        #expect((goes[2] ?? []).count >= 75, "the other campaign used the rest: \((goes[2] ?? []).count)")
    }
}
