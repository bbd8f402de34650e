import Protocol

/// Which contact is called, when, and by which dialer: every decision of the dispatcher, as a
/// value. Its methods take an event and the current time and return what the shell must do
/// (directives); it reads no clock, touches no socket and no database. The shell (`Dispatcher`
/// in the manager) performs the directives and reports back what they gave.
///
/// It holds only what can be rebuilt from the database: queues of pending contacts, offers made
/// to dialers, placements begun. A call is begun only by a committed begin in the database, so
/// nothing here can make a contact be called twice; what it decides is pacing, fairness and how
/// fast work lost with a dialer comes back.
public struct DispatchCore<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias DialerID = DialerPool<Instant>.ID

    public struct Settings: Sendable {
        /// Call requests per second across all dialers; 0 turns pacing off.
        public var callsPerSecond: Double
        public var maxConcurrentCalls: Int
        /// A begun placement unreported for this long is treated as possibly placed.
        public var placementTimeout: Duration
        /// A call with no news for this long is looked up on Plivo.
        public var outcomeCheckAfter: Duration
        /// Calls one account may have in flight at once (nil: no cap of its own).
        public var accountMaxConcurrentCalls: Int?
        /// A call whose outcome is still unknown after this long fails with `outcome_unknown`.
        public var outcomeTimeout: Duration
        /// How long a dialer that let an offer lapse is passed over.
        public var suspension: Duration = .seconds(5)
        /// Queues load more contacts when fewer than this are waiting, a batch at a time.
        public var lowWater = 200
        public var refillBatch = 500

        public init(callsPerSecond: Double, maxConcurrentCalls: Int, placementTimeout: Duration = .seconds(30),
                    outcomeCheckAfter: Duration = .seconds(60), outcomeTimeout: Duration = .seconds(900)) {
            self.callsPerSecond = callsPerSecond
            self.maxConcurrentCalls = maxConcurrentCalls
            self.placementTimeout = placementTimeout
            self.outcomeCheckAfter = outcomeCheckAfter
            self.outcomeTimeout = outcomeTimeout
        }

        /// How long a dialer may take from an offer to sending it to Plivo: time for a commit,
        /// plus a few pacing slots, since go-aheads wait for their slot.
        public var lease: Duration {
            .milliseconds(2000 + (callsPerSecond > 0 ? Int(3000 * Pacing.cadenceMargin / callsPerSecond) : 0))
        }

        /// How many offers may run ahead of the pacing gate: enough to cover a quarter second of
        /// offer-to-begin latency, so a begin is waiting when its slot comes even on a busy machine.
        public var lookahead: Int { 2 + Int((callsPerSecond / 4).rounded(.up)) }
    }

    public struct Offer: Sendable, Equatable {
        public let attempt: Int64
        public let contact: QueuedContact
        public let campaign: DispatchCampaign
        public let dialer: DialerID
        /// The request that started or resumed the campaign, for tracing.
        public let requestID: String?
    }

    /// A placement the database has begun and its dialer has not reported yet.
    public struct Begun: Sendable, Equatable {
        public let attempt: Int64
        public let contact: Int64
        public let campaign: Int64
        public let account: String
        public let number: String
        public let dialer: DialerID
        /// Who was told to go: only that dialer (under any connection) may report the placement.
        public let dialerName: String
        /// When its begin was asked for: a number listed since then is not called.
        public let started: Instant
        /// When its dialer last asked to go (the begin, or a renewal): its go-ahead tells how
        /// long after that it was given.
        public fileprivate(set) var askedAt: Instant
        /// When it was last told to go (nil while it waits).
        public fileprivate(set) var wentAt: Instant?
        /// Between its commit and its go-ahead (or a renewal's).
        public fileprivate(set) var waitingForGo = false
        /// New slots asked for after missing one.
        public fileprivate(set) var renewals = 0
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Send the offer to its dialer, then report `offerTaken` or `offerFailed`.
        case offer(Offer)
        /// Read the campaign's pending contacts after `load.after`, then report `loaded` with the
        /// same `queue` (which tells a result for a queue dropped and made anew meanwhile).
        case load(campaign: Int64, queue: Int, ContactQueue<QueuedContact>.Load)
        /// Call `tick` at this instant.
        case wake(at: Instant)
        /// Read the campaign's status again and report it with `synced`.
        case resync(campaign: Int64)
        /// The placement may exist: record it as such (`ContactEvent.dialerLost`).
        case markUncertain(contact: Int64, attempt: Int64)
        /// Ask Plivo, through a dialer, what became of this call; report with `lookedUp`.
        case lookUp(OverdueCall)
        /// A scheduled campaign's `start_at` has come: start it, then report its status (`synced`).
        case startScheduled(campaign: Int64)
        /// A campaign's `end_at` has come: expire its contacts not called yet, then report its status.
        case endCampaign(campaign: Int64)
        /// Something worth a log line.
        case notice(Notice)
    }

    public enum Notice: Sendable, Equatable {
        case offerExpired(dialer: String, attempt: Int64)
        case dialerSuspended(dialer: String, seconds: Int64)
        case backoff(reason: String, retryAfterMilliseconds: Int)
        case campaignCompleted(Int64)
        case campaignPausedBySystem(Int64)
        case reportRefused(dialer: String, attempt: Int64, begunBy: String)
    }

    /// The next step of a begin, which the shell runs as one request: commit, wait, answer.
    public enum BeginStep: Sendable, Equatable {
        /// Commit the begin in the database, then report `beginCommitted` (or `beginFailed`).
        case commit(Offer)
        /// Wait until this instant, then report `goDue`.
        case waitUntil(Instant)
        /// Settle this placement as the manager's own report (it was never sent), then answer.
        case settle(ReportPlacement, then: BeginCallReply)
        case answer(BeginCallReply)
    }

    /// What to do with the answer of a lookup.
    public enum Resolution: Sendable, Equatable {
        case nothing
        /// The call is live: restart its overdue clock.
        case touch
        /// The call ended: record it as its hangup callback would.
        case hangup(CallEvent)
        /// Nobody can tell any more: fail the contact with `outcome_unknown`.
        case failOutcomeUnknown(detail: String)
    }

    public let settings: Settings
    public private(set) var dialers = DialerPool<Instant>()
    public private(set) var offers: [Int64: Offer] = [:]
    public private(set) var begun: [Int64: Begun] = [:]
    public private(set) var liveCalls = 0
    private var queues: [Int64: CampaignQueue] = [:]
    /// Turns: accounts in round robin, then each account's campaigns in round robin.
    private var accountOrder: [String] = []
    private var accountRotation = 0
    private var campaignOrder: [String: [Int64]] = [:]
    private var campaignRotation: [String: Int] = [:]
    /// Calls counting against the limits (offered, begun or live), per campaign and per account.
    private var campaignUsage: [Int64: Int] = [:]
    private var accountUsage: [String: Int] = [:]
    private var campaignAccounts: [Int64: String] = [:]
    /// Campaigns with a rate of their own: when each may be offered its next call, and the
    /// sliding window of its go-aheads.
    private var nextOfferAt: [Int64: Instant] = [:]
    private var campaignPacers: [Int64: Pacer<Instant>] = [:]
    /// The newest status change applied per campaign, so status changes applied out of order
    /// cannot leave a paused campaign queued or a running one unqueued.
    private var versions: [Int64: Int64] = [:]
    private var nextAttempt: Int64
    private var pacer: Pacer<Instant>?
    /// Placements begun and waiting for their pacing slot: they have not heard "go" yet.
    private var waitingForGo = 0
    /// Offers taken by their dialers, in the order their leases end (all leases are equally long).
    private var leases: [(attempt: Int64, ends: Instant)] = []
    private var leasesHead = 0
    private var leaseEnds: [Int64: Instant] = [:]
    /// Numbers put on Do-Not-Call lists lately, for begins that were already past their own
    /// check when it happened; kept for as long as a begin can wait.
    private var recentListings: [(account: String, numbers: Set<String>, at: Instant)] = []
    private var backoffUntil: Instant?
    private var wakeAt: Instant?
    private var lastLookup: [Int64: Instant] = [:]
    /// Queued calls whose cancel Plivo could not be asked for, by attempt: when it was tried.
    private var failedStops: [Int64: Instant] = [:]
    private var queuesMade = 0
    /// Per campaign, when the first of its contacts waiting for their calling window may be called.
    private var windowOpenings: [Int64: Instant] = [:]
    /// Campaigns to start (scheduled) and to end, by when.
    private var starts: [Int64: Instant] = [:]
    private var ends: [Int64: Instant] = [:]
    /// Campaigns whose end came lately, for begins waiting for their slot then.
    private var recentEnds: [(campaign: Int64, at: Instant)] = []
    /// Begins being committed, and since when: a number listed from then on is not called. They
    /// count as begun for whoever waits for begun placements: the commit may land.
    private var committing: [Int64: (offer: Offer, since: Instant)] = [:]

    struct CampaignQueue: Sendable {
        let campaign: DispatchCampaign
        /// Which queue of the campaign this is: a campaign paused and resumed gets a new one.
        let id: Int
        var requestID: String?
        var contacts = ContactQueue<QueuedContact>()
    }

    /// - Parameters:
    ///   - liveCalls: calls in flight in the database (after a restart, those begun before).
    ///   - inFlight: the same, per campaign with its account, for the per-campaign and
    ///     per-account limits.
    ///   - firstAttempt: the first attempt id to give; ids never repeat across restarts.
    public init(settings: Settings, liveCalls: Int = 0, inFlight: [(campaign: Int64, account: String, calls: Int)] = [],
                firstAttempt: Int64 = 1) {
        self.settings = settings
        self.liveCalls = liveCalls
        for entry in inFlight {
            campaignAccounts[entry.campaign] = entry.account
            campaignUsage[entry.campaign, default: 0] += entry.calls
            accountUsage[entry.account, default: 0] += entry.calls
        }
        nextAttempt = firstAttempt
        pacer = Pacer(callsPerSecond: settings.callsPerSecond)
    }

    public var runningCampaigns: Int { queues.count }
    public var queuedContacts: Int { queues.values.reduce(0) { $0 + $1.contacts.count } }
    public var dialerNames: [String] { dialers.names }

    /// Whether any begun placement matches (or any being committed, which may become one): such
    /// a placement may still reach Plivo.
    public func hasBegun(where predicate: (Begun) -> Bool) -> Bool {
        begun.values.contains(where: predicate) || committing.values.contains { predicate(Self.begun($0.offer, since: $0.since)) }
    }

    private static func begun(_ offer: Offer, since: Instant) -> Begun {
        Begun(attempt: offer.attempt, contact: offer.contact.seq, campaign: offer.campaign.seq, account: offer.campaign.account,
              number: offer.contact.phoneNumber, dialer: offer.dialer, dialerName: "", started: since, askedAt: since)
    }

    // MARK: Campaigns

    /// A campaign's status as the database has it now (`nil`: it is gone), with the version of
    /// its last status change: queued while running, dropped otherwise. Older versions than one
    /// already applied are ignored, so status changes may be reported in any order.
    public mutating func synced(_ seq: Int64, _ state: (campaign: DispatchCampaign, running: Bool, version: Int64)?,
                                requestID: String? = nil, now: Instant) -> [Directive] {
        guard let (campaign, running, version) = state else {
            remove(campaign: seq)
            return []
        }
        guard version > versions[seq] ?? -1 else { return [] }
        versions[seq] = version
        guard running else {
            remove(campaign: seq)
            return []
        }
        if queues[seq] != nil {
            queues[seq]!.contacts.rewind()
            if let requestID { queues[seq]!.requestID = requestID }
        } else {
            queuesMade += 1
            queues[seq] = CampaignQueue(campaign: campaign, id: queuesMade, requestID: requestID)
            campaignAccounts[seq] = campaign.account
            if campaignOrder[campaign.account] == nil { accountOrder.append(campaign.account) }
            campaignOrder[campaign.account, default: []].append(seq)
        }
        campaignPacers[seq] = campaign.callsPerSecond.flatMap { Pacer(callsPerSecond: $0) }
        if campaignPacers[seq] == nil { nextOfferAt.removeValue(forKey: seq) }
        return pump(now: now)
    }

    /// New contacts in a running campaign: look for them the next time its queue runs low.
    public mutating func contactsAdded(campaign: Int64, now: Instant) -> [Directive] {
        guard queues[campaign] != nil else { return [] }
        queues[campaign]!.contacts.contactsAdded()
        return pump(now: now)
    }

    /// A load's result. A load for a queue dropped meanwhile, or made stale by a rewind, is
    /// recognised as such; contacts already offered or begun are not queued twice.
    /// `scanned` rows were read up to `lastPosition` (by default, the batch's); those not in
    /// `batch` wait for their calling window, the first of which opens after `windowOpensIn`.
    public mutating func loaded(campaign: Int64, queue: Int, _ batch: [QueuedContact], by load: ContactQueue<QueuedContact>.Load,
                                scanned: Int? = nil, lastPosition: Int64? = nil, windowOpensIn: Duration? = nil, now: Instant) -> [Directive] {
        var directives: [Directive] = []
        if queues[campaign]?.id == queue {
            let inFlight = Set(offers.values.map(\.contact.seq)).union(begun.values.map(\.contact))
                .union(committing.values.map(\.offer.contact.seq))
            queues[campaign]!.contacts.loaded(batch, by: load, lastPosition: lastPosition ?? batch.last?.seq, batchLimit: settings.refillBatch,
                                              scanned: scanned) {
                !inFlight.contains($0.seq)
            }
            if let windowOpensIn { directives += armWindow(campaign, at: now.advanced(by: windowOpensIn)) }
        }
        return directives + pump(now: now)
    }

    /// Contacts of `campaign` wait for their window until `instant`: the queue is read again
    /// from the start then.
    private mutating func armWindow(_ campaign: Int64, at instant: Instant) -> [Directive] {
        if let pending = windowOpenings[campaign], pending <= instant { return [] }
        windowOpenings[campaign] = instant
        return armWake(at: instant)
    }

    private mutating func remove(campaign: Int64) {
        guard let queue = queues.removeValue(forKey: campaign) else { return }
        let account = queue.campaign.account
        campaignOrder[account]?.removeAll { $0 == campaign }
        if campaignOrder[account]?.isEmpty == true {
            campaignOrder.removeValue(forKey: account)
            campaignRotation.removeValue(forKey: account)
            accountOrder.removeAll { $0 == account }
        }
        accountRotation = accountOrder.isEmpty ? 0 : accountRotation % accountOrder.count
    }

    /// A call of `campaign` starts or stops counting against its limits.
    private mutating func use(_ campaign: Int64, _ change: Int) {
        campaignUsage[campaign] = max(0, (campaignUsage[campaign] ?? 0) + change)
        if let account = campaignAccounts[campaign] { accountUsage[account] = max(0, (accountUsage[account] ?? 0) + change) }
    }

    // MARK: Dialers

    public mutating func dialerJoined(name: String, slots: Int, now: Instant) -> (DialerID, [Directive]) {
        let id = dialers.add(name: name, slots: slots)
        return (id, pump(now: now))
    }

    /// The dialer's connection is gone: its offers go back to the front of their queues. Its
    /// begun placements stay until reported (by the same dialer, reconnected) or timed out.
    public mutating func dialerLeft(_ id: DialerID, now: Instant) -> [Directive] {
        guard dialers.remove(id) != nil else { return [] }
        withdraw(offers.values.filter { $0.dialer == id }.map(\.attempt))
        return pump(now: now)
    }

    // MARK: Offers

    /// The dialer acknowledged the offer: it must begin it within the lease.
    public mutating func offerTaken(_ attempt: Int64, now: Instant) -> [Directive] {
        guard offers[attempt] != nil else { return [] }
        let ends = now.advanced(by: settings.lease)
        leases.append((attempt, ends))
        leaseEnds[attempt] = ends
        return armWake(at: ends)
    }

    /// The offer never reached its dialer, or it said no: offered again, elsewhere if need be. A
    /// dialer that did not answer in time is passed over for a while.
    public mutating func offerFailed(_ attempt: Int64, timedOut: Bool, now: Instant) -> [Directive] {
        guard let offer = offers[attempt] else { return [] }
        var directives = timedOut ? suspend(offer.dialer, now: now) : []
        withdraw([attempt])
        directives += pump(now: now)
        return directives
    }

    /// Takes back offers that were not begun; their contacts go back to the front of their
    /// queues, in the order they were offered.
    private mutating func withdraw(_ attempts: [Int64]) {
        for attempt in attempts.sorted(by: >) {
            guard let offer = offers.removeValue(forKey: attempt) else { continue }
            leaseEnds.removeValue(forKey: attempt)
            use(offer.campaign.seq, -1)
            dialers.settled(offer.dialer)
            queues[offer.campaign.seq]?.contacts.pushFront(offer.contact)
        }
    }

    private mutating func suspend(_ id: DialerID, now: Instant) -> [Directive] {
        let until = now.advanced(by: settings.suspension)
        guard dialers.suspend(id, until: until, now: now) else { return armWake(at: until) }
        let notice = Notice.dialerSuspended(dialer: dialers[id]?.name ?? "", seconds: settings.suspension.components.seconds)
        return [.notice(notice)] + armWake(at: until)
    }

    // MARK: Begin and go

    /// A dialer asks to place an offered call. Only the dialer it was offered to may.
    public mutating func beginRequested(_ attempt: Int64, by dialer: DialerID?, now: Instant) -> BeginStep {
        guard let dialer, let offer = offers[attempt], offer.dialer == dialer else {
            return .answer(BeginCallReply(go: false, reason: "no such offer (expired or withdrawn)"))
        }
        offers.removeValue(forKey: attempt)
        leaseEnds.removeValue(forKey: attempt)
        liveCalls += 1
        committing[attempt] = (offer, now)
        return .commit(offer)
    }

    /// The commit failed (the database is unavailable): the contact is offered again.
    public mutating func beginFailed(_ offer: Offer, now: Instant) -> [Directive] {
        committing.removeValue(forKey: offer.attempt)
        liveCalls -= 1
        use(offer.campaign.seq, -1)
        dialers.settled(offer.dialer)
        queues[offer.campaign.seq]?.contacts.pushFront(offer.contact)
        return pump(now: now)
    }

    /// The database's answer to a begin. A go waits for its pacing slot; anything else is
    /// answered at once.
    public mutating func beginCommitted(_ offer: Offer, _ verdict: BeginVerdict, now: Instant) -> (BeginStep, [Directive]) {
        let requested = committing.removeValue(forKey: offer.attempt)?.since ?? now
        guard verdict == .go else {
            liveCalls -= 1
            use(offer.campaign.seq, -1)
            dialers.settled(offer.dialer)
            var directives: [Directive] = []
            if case .doNotCall(let effect) = verdict { directives += apply(effect) }
            // The database says the campaign is not running: whatever queued it was stale.
            if verdict == .campaignNotRunning { directives.append(.resync(campaign: offer.campaign.seq)) }
            // Outside the callee's window: it is called once the window opens (the queue reads
            // it again then).
            if case .outsideWindow(let milliseconds) = verdict {
                directives += armWindow(offer.campaign.seq, at: now.advanced(by: .milliseconds(milliseconds)))
            }
            directives += pump(now: now)
            return (.answer(BeginCallReply(go: false, reason: "\(verdict)")), directives)
        }
        begun[offer.attempt] = Begun(
            attempt: offer.attempt, contact: offer.contact.seq, campaign: offer.campaign.seq, account: offer.campaign.account,
            number: offer.contact.phoneNumber, dialer: offer.dialer, dialerName: dialers[offer.dialer]?.name ?? "", started: requested,
            askedAt: requested
        )
        return (waitForGo(offer.attempt, now: now), [])
    }

    /// A dialer that could not send within its go-ahead's bound asks for a new slot. Only the
    /// dialer that began it may, and only while the placement is unreported.
    public mutating func renewRequested(_ attempt: Int64, byName dialerName: String, now: Instant) -> BeginStep {
        guard let placement = begun[attempt], placement.dialerName == dialerName, !placement.waitingForGo else {
            return .answer(BeginCallReply(go: false, reason: "no such placement to renew"))
        }
        guard placement.renewals < BeginCall.maxRenewals else {
            return .answer(BeginCallReply(go: false, reason: "renewed \(BeginCall.maxRenewals) times already"))
        }
        begun[attempt]!.renewals += 1
        // Its request never left, so its answer leaves the window, and it goes again as soon as
        // the window allows: the slot it missed is not lost to the rate.
        if let went = placement.wentAt {
            pacer?.forgetGo(at: went)
            campaignPacers[placement.campaign]?.forgetGo(at: went)
        }
        return waitForGo(attempt, now: now, slot: now)
    }

    private mutating func waitForGo(_ attempt: Int64, now: Instant, slot: Instant? = nil) -> BeginStep {
        // Unpaced, the slot is now; the shell still asks `goDue` whether the dialer is there.
        guard pacer != nil else { return .waitUntil(now) }
        begun[attempt]?.waitingForGo = true
        begun[attempt]?.askedAt = now
        begun[attempt]?.wentAt = nil
        waitingForGo += 1
        return .waitUntil(slot ?? pacer!.reserveSlot(now: now))
    }

    /// A begin's slot has come. It goes unless the sliding window is still full (wait more), its
    /// number was listed meanwhile (settled as `skipped_dnc`), or its dialer went away (settled
    /// as not placed: it never heard "go").
    public mutating func goDue(_ attempt: Int64, now: Instant, dialerGone: Bool) -> (BeginStep, [Directive]) {
        if let opens = pacer?.windowOpens, now < opens { return (.waitUntil(opens), []) }
        // A campaign's own rate holds in every one-second window too.
        if let campaign = begun[attempt]?.campaign, let opens = campaignPacers[campaign]?.windowOpens, now < opens { return (.waitUntil(opens), []) }
        var directives: [Directive] = []
        if begun[attempt]?.waitingForGo == true {
            begun[attempt]!.waitingForGo = false
            waitingForGo -= 1
            directives = pump(now: now)
        }
        guard let placement = begun[attempt] else {
            // Settled meanwhile (timed out as uncertain): it must not go now.
            return (.answer(BeginCallReply(go: false, reason: "placement already settled")), directives)
        }
        let contactID = ContactID.format(placement.contact)
        if recentListings.contains(where: { $0.at >= placement.started && $0.account == placement.account && $0.numbers.contains(placement.number) }) {
            let report = ReportPlacement(attempt: attempt, contactID: contactID, outcome: .skippedDNC)
            return (.settle(report, then: BeginCallReply(go: false, reason: "number put on the Do-Not-Call list")), directives)
        }
        if dialerGone {
            let report = ReportPlacement(attempt: attempt, contactID: contactID,
                                         outcome: .notPlaced(reason: "dialer gone before its go-ahead", retryAfterMilliseconds: 0))
            return (.settle(report, then: BeginCallReply(go: false, reason: "dialer gone")), directives)
        }
        // Nothing goes out after a campaign's end_at, even a begin committed before it.
        if ends[placement.campaign].map({ $0 <= now }) == true
            || recentEnds.contains(where: { $0.campaign == placement.campaign && $0.at >= placement.started }) {
            let report = ReportPlacement(attempt: attempt, contactID: contactID,
                                         outcome: .notPlaced(reason: "the campaign's end_at came before its go-ahead", retryAfterMilliseconds: 0))
            return (.settle(report, then: BeginCallReply(go: false, reason: "campaign ended")), directives)
        }
        campaignPacers[placement.campaign]?.recordGo(at: now)
        guard pacer != nil else {
            begun[attempt]!.wentAt = now
            return (.answer(BeginCallReply(go: true)), directives)
        }
        pacer!.recordGo(at: now)
        begun[attempt]!.wentAt = now
        // The go-ahead carries its slot: how long after the dialer's ask it was given, and how
        // soon after that the request must leave (see `BeginCallReply`).
        let reply = BeginCallReply(go: true, heldMicroseconds: Self.microseconds(placement.askedAt.duration(to: now)),
                                   sendWithinMicroseconds: Self.microseconds(Pacing.sendWithin))
        return (.answer(reply), directives)
    }

    /// Numbers just committed to an account's Do-Not-Call list: placements begun before and
    /// still waiting for their go-ahead are withdrawn as `skipped_dnc` instead of sent.
    public mutating func listed(account: String, numbers: Set<String>, now: Instant) {
        let longestWait = settings.lease + .seconds(1)
        recentListings.removeAll { $0.at.duration(to: now) > longestWait }
        recentListings.append((account, numbers, now))
    }

    // MARK: Reports and callbacks

    /// Whether `dialerName` may report `attempt`: only the dialer told to go may (nil: the
    /// manager itself). A refusal comes with its notice.
    public func mayReport(_ attempt: Int64, dialerName: String?) -> Notice? {
        guard let dialerName, let placement = begun[attempt], placement.dialerName != dialerName else { return nil }
        return .reportRefused(dialer: dialerName, attempt: attempt, begunBy: placement.dialerName)
    }

    /// A placement's report, after the database applied it. `counted` says whether it is the
    /// first heard of this placement (reports are re-sent until acknowledged, and a callback may
    /// have reached the contact first).
    public mutating func reported(_ report: ReportPlacement, effect: DispatchEffect, now: Instant) -> (counted: Bool, directives: [Directive]) {
        let placement = begun.removeValue(forKey: report.attempt)
        if let placement {
            dialers.settled(placement.dialer)
            if placement.waitingForGo { waitingForGo -= 1 }
        }
        var directives: [Directive] = []
        // Plivo said "later" (429, unreachable): everyone waits. A placement that simply did not
        // happen (lease expired, dialer gone) is offered again at once.
        if case .notPlaced(let reason, let retryAfter) = report.outcome, retryAfter > 0 {
            backoffUntil = now.advanced(by: .milliseconds(retryAfter))
            directives.append(.notice(.backoff(reason: reason, retryAfterMilliseconds: retryAfter)))
        }
        directives += apply(effect)
        directives += pump(now: now)
        return (effect.applied || placement != nil, directives)
    }

    /// A callback (or a lookup's answer), after the database applied it. A contact to be
    /// redialed is looked for again when its delay has passed.
    public mutating func changed(by effect: DispatchEffect, now: Instant) -> [Directive] {
        var directives = apply(effect)
        if let seconds = effect.transition.redialAfterSeconds, let campaign = effect.campaign, queues[campaign] != nil {
            directives += armWindow(campaign, at: now.advanced(by: .seconds(seconds)))
        }
        return directives + pump(now: now)
    }

    private mutating func apply(_ effect: DispatchEffect) -> [Directive] {
        var directives: [Directive] = []
        if effect.releasedSlot {
            liveCalls = max(0, liveCalls - 1)
            if let campaign = effect.campaign { use(campaign, -1) }
        }
        if let campaign = effect.completedCampaign {
            directives += [.resync(campaign: campaign), .notice(.campaignCompleted(campaign))]
        }
        if let campaign = effect.pausedCampaign {
            directives += [.resync(campaign: campaign), .notice(.campaignPausedBySystem(campaign))]
        }
        if let contact = effect.retry, let campaign = effect.retryCampaign {
            queues[campaign]?.contacts.pushFront(contact)
        }
        return directives
    }

    // MARK: Time

    /// A wake-up came (the one armed for `armedFor`, if given): offers whose lease ended are
    /// withdrawn (their dialers passed over for a while), and whatever waited for a backoff or a
    /// suspension to end goes on. A wake-up that comes early still frees the way for the next.
    public mutating func tick(now: Instant, armedFor: Instant? = nil) -> [Directive] {
        if let pending = wakeAt, pending <= now || pending == armedFor { wakeAt = nil }
        var directives: [Directive] = []
        var expired: [Int64] = []
        while leasesHead < leases.count, leases[leasesHead].ends <= now {
            let (attempt, ends) = leases[leasesHead]
            leasesHead += 1
            guard leaseEnds[attempt] == ends, let offer = offers[attempt] else { continue }
            directives.append(.notice(.offerExpired(dialer: dialers[offer.dialer]?.name ?? "", attempt: attempt)))
            directives += suspend(offer.dialer, now: now)
            expired.append(attempt)
        }
        withdraw(expired)
        for (campaign, opening) in windowOpenings where opening <= now {
            windowOpenings.removeValue(forKey: campaign)
            queues[campaign]?.contacts.rewind()
        }
        if let next = windowOpenings.values.min() { directives += armWake(at: next) }
        directives += deadlinesDue(now: now)
        if leasesHead > 1024, leasesHead * 2 > leases.count {
            leases.removeFirst(leasesHead)
            leasesHead = 0
        }
        if let front = leases[leasesHead...].first(where: { leaseEnds[$0.attempt] == $0.ends }) { directives += armWake(at: front.ends) }
        return directives + pump(now: now)
    }

    /// A campaign's `start_at` (while scheduled) and `end_at` (while not final), as durations from
    /// now (zero or less: due now); nil clears it. Each is acted on once, when due.
    public mutating func deadlines(_ campaign: Int64, startsIn: Duration?, endsIn: Duration?, now: Instant) -> [Directive] {
        starts[campaign] = startsIn.map { now.advanced(by: max(.zero, $0)) }
        ends[campaign] = endsIn.map { now.advanced(by: max(.zero, $0)) }
        return deadlinesDue(now: now)
    }

    /// The starts and ends due now, and a wake-up for the next.
    private mutating func deadlinesDue(now: Instant) -> [Directive] {
        var directives: [Directive] = []
        for (campaign, at) in starts where at <= now {
            starts.removeValue(forKey: campaign)
            directives.append(.startScheduled(campaign: campaign))
        }
        for (campaign, at) in ends where at <= now {
            ends.removeValue(forKey: campaign)
            let longestWait = settings.lease + .seconds(1)
            recentEnds.removeAll { $0.at.duration(to: now) > longestWait }
            recentEnds.append((campaign, now))
            directives.append(.endCampaign(campaign: campaign))
        }
        if let next = (Array(starts.values) + Array(ends.values)).min() { directives += armWake(at: next) }
        return directives
    }

    /// Asks for a wake-up at `instant` unless one comes by then; `tick` arms the next one.
    private mutating func armWake(at instant: Instant) -> [Directive] {
        if let pending = wakeAt, pending <= instant { return [] }
        wakeAt = instant
        return [.wake(at: instant)]
    }

    // MARK: Offering

    /// Makes as many offers as pacing, the concurrency limit and free dialer slots allow now.
    private mutating func pump(now: Instant) -> [Directive] {
        if let until = backoffUntil, until > now { return armWake(at: until) }
        var directives: [Directive] = []
        while liveCalls + offers.count < settings.maxConcurrentCalls, let dialer = dialers.freest(now: now) {
            // With pacing, the go-ahead gate sets the rate; offers only need to stay a few ahead
            // of it, so a begin is waiting when its slot comes and the cadence never slips.
            if pacer != nil, offers.count + waitingForGo >= settings.lookahead { break }
            guard let (requestID, campaign, contact) = nextContact(now: now, into: &directives) else { break }
            let offer = Offer(attempt: nextAttempt, contact: contact, campaign: campaign, dialer: dialer, requestID: requestID)
            nextAttempt += 1
            offers[offer.attempt] = offer
            use(campaign.seq, 1)
            dialers.offered(to: dialer)
            directives.append(.offer(offer))
        }
        if dialers.count > 0, dialers.freest(now: now) == nil, let resumes = dialers.members.values.compactMap(\.suspendedUntil).filter({ $0 > now }).min() {
            directives += armWake(at: resumes)
        }
        return directives
    }

    /// The next contact: accounts take turns, then each account's campaigns, so one account's
    /// million contacts cannot hold back another's ten; campaigns and accounts at their limits
    /// are passed over. Queues running low ask for a load on the way; a campaign held back by its
    /// own rate asks for a wake-up when it may go on.
    private mutating func nextContact(now: Instant, into directives: inout [Directive]) -> (String?, DispatchCampaign, QueuedContact)? {
        var rateWait: Instant?
        defer { if let rateWait { directives += armWake(at: rateWait) } }
        for accountTurn in 0..<accountOrder.count {
            let account = accountOrder[(accountRotation + accountTurn) % accountOrder.count]
            if let cap = settings.accountMaxConcurrentCalls, accountUsage[account] ?? 0 >= cap { continue }
            let campaigns = campaignOrder[account] ?? []
            for campaignTurn in 0..<campaigns.count {
                let seq = campaigns[((campaignRotation[account] ?? 0) + campaignTurn) % campaigns.count]
                guard let queue = queues[seq] else { continue }
                if let cap = queue.campaign.maxConcurrentCalls, campaignUsage[seq] ?? 0 >= cap { continue }
                if let at = nextOfferAt[seq], at > now {
                    rateWait = min(rateWait ?? at, at)
                    continue
                }
                if let load = queues[seq]!.contacts.loadIfLow(lowWater: settings.lowWater) {
                    directives.append(.load(campaign: seq, queue: queue.id, load))
                }
                guard let contact = queues[seq]!.contacts.pop() else { continue }
                // The next turn goes to the next account, and this account's next campaign.
                accountRotation = (accountRotation + accountTurn + 1) % accountOrder.count
                campaignRotation[account] = ((campaignRotation[account] ?? 0) + campaignTurn + 1) % campaigns.count
                if let pacer = campaignPacers[seq] {
                    // The campaign's cadence keeps its average; after a lull it starts afresh.
                    let allowed = nextOfferAt[seq] ?? now
                    nextOfferAt[seq] = (allowed.duration(to: now) < pacer.interval ? allowed : now).advanced(by: pacer.interval)
                }
                return (queue.requestID, queue.campaign, contact)
            }
        }
        return nil
    }

    // MARK: Reconciliation

    /// Placements begun and never reported within the placement timeout: the call may exist,
    /// so the contact waits for callbacks rather than being offered again.
    public mutating func placementsTimedOut(now: Instant) -> [Directive] {
        var directives: [Directive] = []
        for (attempt, placement) in begun where placement.started.duration(to: now) > settings.placementTimeout {
            begun.removeValue(forKey: attempt)
            dialers.settled(placement.dialer)
            if placement.waitingForGo { waitingForGo -= 1 }
            directives.append(.markUncertain(contact: placement.contact, attempt: attempt))
        }
        return directives + (directives.isEmpty ? [] : pump(now: now))
    }

    /// How far back (in wall-clock milliseconds) a call's last news must be to be worth a look.
    public var overdueHorizonMilliseconds: Int64 {
        Self.milliseconds(min(settings.placementTimeout, settings.outcomeCheckAfter))
    }

    /// Calls the database says are overdue (`wallNow` in the database's milliseconds): those
    /// still `placing` past the placement timeout become uncertain; those heard of but silent
    /// past the outcome check are looked up, each at most once per check period.
    public mutating func overdue(_ calls: [OverdueCall], wallNow: Int64, now: Instant) -> [Directive] {
        var directives: [Directive] = []
        for call in calls where begun[call.attempt] == nil {
            let silentFor = wallNow - call.lastEventAt
            if call.callState == .placing {
                if silentFor > Self.milliseconds(settings.placementTimeout) {
                    directives.append(.markUncertain(contact: call.contactSeq, attempt: call.attempt))
                }
                continue
            }
            guard silentFor > Self.milliseconds(settings.outcomeCheckAfter) else { continue }
            if let last = lastLookup[call.contactSeq], last.duration(to: now) < settings.outcomeCheckAfter { continue }
            lastLookup[call.contactSeq] = now
            directives.append(.lookUp(call))
        }
        let forget = settings.outcomeTimeout + settings.outcomeCheckAfter
        lastLookup = lastLookup.filter { $0.value.duration(to: now) < forget }
        return directives
    }

    /// What a lookup's answer means for the call, given how long it has been silent.
    public mutating func lookedUp(_ call: OverdueCall, _ lookup: CallLookup, wallNow: Int64) -> Resolution {
        switch lookup {
        case .live, .queued:
            return .touch
        case .ended(let status, let cause, let code, let duration):
            lastLookup.removeValue(forKey: call.contactSeq)
            return .hangup(CallEvent(kind: .hangup, contactID: ContactID.format(call.contactSeq), attempt: call.attempt, callUUID: call.callUUID,
                                     requestUUID: call.requestUUID, callStatus: status, hangupCause: cause, hangupCauseCode: code,
                                     durationSeconds: duration))
        case .notFound, .unavailable:
            guard wallNow - call.lastEventAt > Self.milliseconds(settings.outcomeTimeout) else { return .nothing }
            lastLookup.removeValue(forKey: call.contactSeq)
            if case .unavailable(let reason) = lookup { return .failOutcomeUnknown(detail: reason) }
            return .failOutcomeUnknown(detail: "Plivo does not know the call")
        }
    }

    // MARK: Stopping queued calls

    /// How long after a cancel that could not be asked for (Plivo or every dialer unreachable)
    /// it is asked for again.
    public static var stopRetry: Duration { .seconds(2) }

    /// Of the queued calls that must not go out, those to ask Plivo to cancel now: all but those
    /// whose last try failed less than `stopRetry` ago.
    public mutating func queuedCallsToStop(_ calls: [QueuedCallToStop], now: Instant) -> [QueuedCallToStop] {
        let candidates = Set(calls.map(\.attempt))
        failedStops = failedStops.filter { candidates.contains($0.key) }
        return calls.filter { call in failedStops[call.attempt].map { $0.duration(to: now) >= Self.stopRetry } ?? true }
    }

    /// What Plivo's answer to a cancel does to the contact: nil when it must be asked again.
    public mutating func stopAnswered(_ call: QueuedCallToStop, _ answer: QueuedCallCancel, now: Instant) -> ContactEvent? {
        switch answer {
        case .canceled:
            failedStops.removeValue(forKey: call.attempt)
            return .queuedCallCanceled(attempt: call.attempt, because: call.reason)
        case .notQueued:
            failedStops.removeValue(forKey: call.attempt)
            return .queuedCallLeftQueue(attempt: call.attempt)
        case .unavailable:
            failedStops[call.attempt] = now
            return nil
        }
    }

    public static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
