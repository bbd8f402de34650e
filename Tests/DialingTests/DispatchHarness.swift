import Dialing
import Protocol

/// Drives a `DispatchCore` the way the manager's shell does, with the database and the dialers
/// played by this value: loads are answered from `pending`, offers are collected, time moves
/// only when a test moves it.
struct DispatchHarness {
    typealias Core = DispatchCore<VirtualInstant>

    var core: Core
    var now = VirtualInstant.start
    /// What the database holds as pending, per campaign.
    var pending: [Int64: [QueuedContact]] = [:]
    var offers: [Core.Offer] = []
    var wakes: [VirtualInstant] = []
    var resyncs: [Int64] = []
    var uncertain: [Int64] = []
    var lookups: [OverdueCall] = []
    var notices: [Core.Notice] = []
    /// Campaigns whose `start_at` or `end_at` came.
    var started: [Int64] = []
    var ended: [Int64] = []
    /// Loads asked for and not answered yet, when `answerLoads` is off.
    var heldLoads: [(campaign: Int64, queue: Int, load: ContactQueue<QueuedContact>.Load)] = []
    var answerLoads = true

    static let acme = DispatchCampaign(seq: 1, id: "cmp_1", account: "acme", agentID: "agent", from: "15550000000")
    static let globex = DispatchCampaign(seq: 2, id: "cmp_2", account: "globex", agentID: "agent", from: "15550000001")

    init(callsPerSecond: Double = 0, maxConcurrentCalls: Int = 100, placementTimeout: Duration = .seconds(30)) {
        core = Core(settings: .init(callsPerSecond: callsPerSecond, maxConcurrentCalls: maxConcurrentCalls, placementTimeout: placementTimeout,
                                    outcomeCheckAfter: .seconds(60), outcomeTimeout: .seconds(900)))
    }

    /// Acme running with `count` contacts and one dialer "d1" (its offers are waiting in `offers`).
    static func dialing(_ count: Int64, slots: Int = 10, callsPerSecond: Double = 0, maxConcurrentCalls: Int = 100) -> DispatchHarness {
        var harness = DispatchHarness(callsPerSecond: callsPerSecond, maxConcurrentCalls: maxConcurrentCalls)
        harness.join("d1", slots: slots)
        harness.run(acme, contacts: contacts(1...count))
        return harness
    }

    static func contacts(_ range: ClosedRange<Int64>) -> [QueuedContact] {
        range.map { QueuedContact(seq: $0, phoneNumber: "1555\($0)") }
    }

    mutating func advance(_ duration: Duration) { now = now.advanced(by: duration) }

    /// Starts (or resumes) a campaign at `version` with these pending contacts.
    mutating func run(_ campaign: DispatchCampaign, version: Int64 = 1, contacts: [QueuedContact]) {
        pending[campaign.seq] = contacts
        perform(core.synced(campaign.seq, (campaign, true, version), now: now))
    }

    mutating func pause(_ campaign: DispatchCampaign, version: Int64) {
        perform(core.synced(campaign.seq, (campaign, false, version), now: now))
    }

    @discardableResult
    mutating func join(_ name: String, slots: Int) -> Core.DialerID {
        let (id, directives) = core.dialerJoined(name: name, slots: slots, now: now)
        perform(directives)
        return id
    }

    /// Offers sent so far and not yet looked at, oldest first.
    mutating func takeOffers() -> [Core.Offer] {
        defer { offers = [] }
        return offers
    }

    /// A begin from `dialer`, committed with `verdict`: the step the shell would take next.
    mutating func begin(_ offer: Core.Offer, by dialer: Core.DialerID? = nil, verdict: BeginVerdict = .go) -> Core.BeginStep {
        switch core.beginRequested(offer.attempt, by: dialer ?? offer.dialer, now: now) {
        case .commit(let committing):
            let (step, directives) = core.beginCommitted(committing, verdict, now: now)
            perform(directives)
            return step
        case let other:
            return other
        }
    }

    /// Waits out every `waitUntil` of a begin and returns how it ended.
    mutating func goAhead(_ attempt: Int64, from step: Core.BeginStep, dialerGone: Bool = false) -> Core.BeginStep {
        var step = step
        while case .waitUntil(let instant) = step {
            if instant > now { now = instant }
            let (next, directives) = core.goDue(attempt, now: now, dialerGone: dialerGone)
            perform(directives)
            step = next
        }
        return step
    }

    /// Begins the offer and waits for its go-ahead (or whatever else ends the begin).
    @discardableResult
    mutating func go(_ offer: Core.Offer, dialerGone: Bool = false) -> Core.BeginStep {
        goAhead(offer.attempt, from: begin(offer), dialerGone: dialerGone)
    }

    /// A whole placement: begun, told to go, accepted, and its call ended.
    mutating func place(_ offer: Core.Offer) {
        go(offer)
        report(offer.attempt, .accepted(requestUUID: "r\(offer.attempt)"), effect: Self.callEnded)
    }

    /// A write that ended a call and freed its slot.
    static let callEnded = DispatchEffect(transition: Transition(next: ContactState(status: .completed), releasesSlot: true))

    /// The dialer's report, as the database applied it (`effect`).
    @discardableResult
    mutating func report(_ attempt: Int64, _ outcome: PlacementOutcome, effect: DispatchEffect = DispatchEffect()) -> Bool {
        let (counted, directives) = core.reported(ReportPlacement(attempt: attempt, contactID: "ct_0", outcome: outcome), effect: effect, now: now)
        perform(directives)
        return counted
    }

    mutating func tick() { perform(core.tick(now: now)) }

    mutating func answerHeldLoads() {
        let held = heldLoads
        heldLoads = []
        for (campaign, queue, load) in held { answer(campaign: campaign, queue: queue, load) }
    }

    private mutating func answer(campaign: Int64, queue: Int, _ load: ContactQueue<QueuedContact>.Load) {
        let contacts = pending[campaign] ?? []
        // Sorted by position: the first after `load.after`, by bisection (a virtual hour holds many).
        var low = 0, high = contacts.count
        while low < high {
            let middle = (low + high) / 2
            if contacts[middle].seq > load.after { high = middle } else { low = middle + 1 }
        }
        let batch = Array(contacts[low...].prefix(core.settings.refillBatch))
        perform(core.loaded(campaign: campaign, queue: queue, batch, by: load, now: now))
    }

    mutating func perform(_ directives: [Core.Directive]) {
        for directive in directives {
            switch directive {
            case .offer(let offer): offers.append(offer)
            case .load(let campaign, let queue, let load):
                if answerLoads { answer(campaign: campaign, queue: queue, load) } else { heldLoads.append((campaign, queue, load)) }
            case .wake(let instant): wakes.append(instant)
            case .resync(let campaign): resyncs.append(campaign)
            case .markUncertain(_, let attempt): uncertain.append(attempt)
            case .lookUp(let call): lookups.append(call)
            case .notice(let notice): notices.append(notice)
            case .startScheduled(let campaign): started.append(campaign)
            case .endCampaign(let campaign): ended.append(campaign)
            }
        }
    }
}
