import Dialing
import Foundation
import Protocol
import RPC
import Runtime

/// Pacing and limits of call placement, for the whole deployment.
struct DispatchConfiguration: Sendable {
    /// Call requests per second across all dialers; 0 turns pacing off.
    var callsPerSecond: Double = 2
    var maxConcurrentCalls = 50
    /// How long a dialer may take from an offer to sending it to Plivo: time for a commit, plus
    /// a few pacing slots, since "go" answers wait for their slot.
    var leaseMilliseconds: Int {
        2000 + (callsPerSecond > 0 ? Int(3000 * Pacing.cadenceMargin / callsPerSecond) : 0)
    }
    /// A begun placement unreported for this long is treated as possibly placed.
    var placementTimeout: Double = 30
    /// A call with no news for this long is looked up on Plivo.
    var outcomeCheckAfter: Double = 60
    /// A call whose outcome is still unknown after this long fails with `outcome_unknown`.
    var outcomeTimeout: Double = 900
    static let refillBatch = 500

    /// How many offers may run ahead of the pacing gate: enough to cover a quarter second of
    /// offer-to-begin latency, so a begin is waiting when its slot comes even on a busy machine.
    var lookahead: Int { 2 + Int((callsPerSecond / 4).rounded(.up)) }
}

/// Decides which contact is called, when, and by which dialer.
///
/// It holds only what can be rebuilt from the database: queues of pending contacts, offers made
/// to dialers, and placements begun. The database decides the rest: a call is begun only by a
/// committed `beginCall`, so no contact is ever called twice, whatever dies when.
actor Dispatcher {
    typealias DialerID = DialerPool<ContinuousClock.Instant>.ID

    struct Offer {
        let contact: QueuedContact
        let campaign: DispatchCampaign
        let dialer: DialerID
    }

    struct Begun {
        let contact: Int64
        let campaign: Int64
        let account: String
        let number: String
        let dialer: DialerID
        /// Who was told to go: only that dialer (under any connection) may report the placement.
        let dialerName: String
        let started: ContinuousClock.Instant
        let leaseEnds: ContinuousClock.Instant
    }

    /// A running campaign's queue: its contacts, and what the dialers are told about it.
    final class CampaignQueue {
        let campaign: DispatchCampaign
        /// The request that started or resumed it, carried to the dialers for tracing.
        var requestID: String?
        var contacts = ContactQueue<QueuedContact>()

        init(campaign: DispatchCampaign) {
            self.campaign = campaign
        }
    }

    private let store: Store
    private let configuration: DispatchConfiguration
    private let logger: Logger
    private let metrics: ManagerMetrics
    private let clock = ContinuousClock()
    private var dialers = DialerPool<ContinuousClock.Instant>()
    /// Each member's connection, and each connection's member.
    private var dialerPeers: [DialerID: RPCPeer] = [:]
    private var dialerIDs: [ObjectIdentifier: DialerID] = [:]
    /// The newest status change applied per campaign, so status changes applied out of order
    /// cannot leave a paused campaign queued or a running one unqueued.
    private var versions: [Int64: Int64] = [:]
    private var offers: [Int64: Offer] = [:]
    private var begun: [Int64: Begun] = [:]
    private var liveCalls = 0
    private var queues: [Int64: CampaignQueue] = [:]
    private var order: [Int64] = []
    private var rotation = 0
    private var nextAttempt: Int64 = 1
    private var pacer: Pacer<ContinuousClock.Instant>?
    /// Placements begun and waiting for their pacing slot: they have not heard "go" yet.
    private var waitingForGo = 0
    /// Numbers put on Do-Not-Call lists lately, for begins that were already past their own
    /// check when it happened; kept for as long as a begin can wait.
    private var recentListings: [(account: String, numbers: Set<String>, at: ContinuousClock.Instant)] = []
    private var backoffUntil: ContinuousClock.Instant?
    private var wakeAt: ContinuousClock.Instant?
    private var lastLookup: [Int64: ContinuousClock.Instant] = [:]
    private var reconciling = false
    private var reconciler: Task<Void, Never>?
    /// Callers waiting until no matching placement is on its way to Plivo.
    private var begunWaiters: [Int: BegunWaiter] = [:]
    private var nextWaiter = 0

    private struct BegunWaiter {
        let matches: @Sendable (Begun) -> Bool
        let continuation: CheckedContinuation<Void, Never>
        let timeout: Task<Void, Never>
    }

    init(store: Store, configuration: DispatchConfiguration, logger: Logger) {
        self.store = store
        self.metrics = store.metrics
        self.configuration = configuration
        pacer = Pacer(callsPerSecond: configuration.callsPerSecond)
        self.logger = logger
    }

    /// Rebuilds the in-memory view from the database and starts the periodic reconciliation.
    func start() async throws {
        try await store.restartPlacementClocks()
        liveCalls = try await store.inFlightCount()
        let persisted = try await store.maxAttempt()
        // Attempt ids never repeat across restarts, even for offers that were never persisted.
        nextAttempt = max(persisted + 1, Timestamp.nowMilliseconds() * 1000)
        for campaign in try await store.runningCampaigns() {
            await sync(campaign)
        }
        logger.info("dispatcher_started", [
            "running_campaigns": "\(order.count)", "live_calls": "\(liveCalls)",
            "cps": "\(configuration.callsPerSecond)", "max_concurrent_calls": "\(configuration.maxConcurrentCalls)",
        ])
        reconciler = Task { await self.reconcileForever() }
    }

    /// Stops the background reconciliation (shutdown).
    func stop() {
        reconciler?.cancel()
        reconciler = nil
    }

    var status: DispatchStatus {
        DispatchStatus(dialers: dialers.names, liveCalls: liveCalls, offeredCalls: offers.count)
    }

    /// Gauges, in Prometheus text format.
    func gaugeText() -> String {
        MetricsRegistry.gaugeText("rymi_live_calls", help: "Calls placed and not yet hung up (counts against RYMI_MAX_CONCURRENT_CALLS).", [([:], Double(liveCalls))])
            + MetricsRegistry.gaugeText("rymi_offered_calls", help: "Calls offered to dialers and not yet begun.", [([:], Double(offers.count))])
            + MetricsRegistry.gaugeText("rymi_connected_dialers", help: "Dialers registered with the manager.", [([:], Double(dialers.count))])
            + MetricsRegistry.gaugeText("rymi_queue_depth", help: "Contacts loaded and waiting to be offered, per running campaign total.",
                                        [([:], Double(queues.values.reduce(0) { $0 + $1.contacts.count }))])
            + MetricsRegistry.gaugeText("rymi_running_campaigns", help: "Campaigns being dialed.", [([:], Double(order.count))])
    }

    // MARK: Campaigns

    /// Brings the campaign's queue in line with its status in the database: queued while running,
    /// gone otherwise. Called after every status change, in whatever order they finish.
    func sync(_ seq: Int64, requestID: String? = nil) async {
        let state: (campaign: DispatchCampaign, running: Bool, version: Int64)?
        do {
            state = try await store.dispatchState(seq)
        } catch {
            logger.error("dispatch_sync_failed", ["campaign_seq": "\(seq)", "error": "\(error)"])
            return
        }
        guard let (campaign, running, version) = state else {
            remove(campaign: seq)
            return
        }
        guard version > versions[seq] ?? -1 else { return }
        versions[seq] = version
        if running {
            if let queue = queues[seq] {
                queue.contacts.rewind()
                if let requestID { queue.requestID = requestID }
            } else {
                let queue = CampaignQueue(campaign: campaign)
                queue.requestID = requestID
                queues[seq] = queue
                order.append(seq)
            }
            pump()
        } else {
            remove(campaign: seq)
        }
    }

    /// New contacts in a running campaign: look for them the next time its queue runs low.
    func contactsAdded(campaign: Int64) {
        guard let queue = queues[campaign] else { return }
        queue.contacts.contactsAdded()
        pump()
    }

    private func remove(campaign: Int64) {
        guard queues.removeValue(forKey: campaign) != nil else { return }
        order.removeAll { $0 == campaign }
        rotation = order.isEmpty ? 0 : rotation % order.count
    }

    /// Waits until every begun placement matching `predicate` has been reported: a request still
    /// on its way to Plivo could otherwise arrive after the caller's answer. Bounded by the
    /// placement timeout, after which such a placement counts as possibly placed anyway.
    func waitForBegunPlacements(matching predicate: @escaping @Sendable (Begun) -> Bool) async {
        guard begun.values.contains(where: predicate) else { return }
        let id = nextWaiter
        nextWaiter += 1
        let limit = Duration.seconds(configuration.placementTimeout)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let timeout = Task {
                try? await Task.sleep(for: limit)
                self.releaseWaiter(id)
            }
            begunWaiters[id] = BegunWaiter(matches: predicate, continuation: continuation, timeout: timeout)
        }
    }

    private func releaseWaiter(_ id: Int) {
        guard let waiter = begunWaiters.removeValue(forKey: id) else { return }
        waiter.timeout.cancel()
        waiter.continuation.resume()
    }

    /// Called whenever placements leave `begun`: whoever waited only for those may go on.
    private func releaseSettledWaiters() {
        guard !begunWaiters.isEmpty else { return }
        for (id, waiter) in begunWaiters where !begun.values.contains(where: waiter.matches) { releaseWaiter(id) }
    }

    // MARK: Dialers

    func register(_ peer: RPCPeer, name: String, slots: Int) {
        let id = dialers.add(name: name, slots: slots)
        dialerIDs[ObjectIdentifier(peer)] = id
        dialerPeers[id] = peer
        logger.info("dialer_registered", ["dialer": name, "slots": "\(slots)", "dialers": "\(dialers.count)"])
        pump()
    }

    func unregister(_ peer: RPCPeer) {
        guard let id = dialerIDs.removeValue(forKey: ObjectIdentifier(peer)), let dialer = dialers.remove(id) else { return }
        dialerPeers.removeValue(forKey: id)
        logger.warning("dialer_lost", ["dialer": dialer.name, "dialers": "\(dialers.count)"])
        for (attempt, offer) in offers where offer.dialer == id {
            withdraw(attempt, requeue: true)
            _ = offer
        }
        pump()
    }

    var connectedDialers: [RPCPeer] { Array(dialerPeers.values) }

    // MARK: Offers and placements

    /// Makes as many offers as pacing, the concurrency limit and free dialer slots allow now.
    private func pump() {
        let now = clock.now
        if let until = backoffUntil, until > now {
            scheduleWake(at: until)
            return
        }
        while liveCalls + offers.count < configuration.maxConcurrentCalls, let dialer = dialers.freest(now: now) {
            // With pacing, the "go" gate in `begin` sets the rate; offers only need to stay a
            // few ahead of it, so a begin is waiting when its slot comes and the cadence never slips.
            if pacer != nil, offers.count + waitingForGo >= configuration.lookahead { return }
            guard let (queue, contact) = nextContact() else { return }
            offer(contact, from: queue.campaign, to: dialer, requestID: queue.requestID)
        }
    }

    /// The next contact, taking campaigns in turn so a big campaign cannot starve a small one.
    private func nextContact() -> (CampaignQueue, QueuedContact)? {
        for _ in 0..<order.count {
            guard let queue = queues[order[rotation % order.count]] else { continue }
            rotation = (rotation + 1) % order.count
            refill(queue)
            if let contact = queue.contacts.pop() { return (queue, contact) }
        }
        return nil
    }

    static let lowWater = 200

    private func refill(_ queue: CampaignQueue) {
        guard let load = queue.contacts.loadIfLow(lowWater: Self.lowWater) else { return }
        let seq = queue.campaign.seq
        Task {
            let batch = (try? await store.pendingContacts(campaign: seq, after: load.after, limit: DispatchConfiguration.refillBatch)) ?? []
            self.refilled(queue, batch, by: load)
        }
    }

    private func refilled(_ queue: CampaignQueue, _ batch: [QueuedContact], by load: ContactQueue<QueuedContact>.Load) {
        // A queue replaced while the load ran is gone; one rewound meanwhile knows its load is stale.
        guard queues[queue.campaign.seq] === queue else {
            queue.contacts.abandon(load)
            pump()
            return
        }
        // Contacts already offered (retries pushed back, offers in flight) are not queued twice.
        let inFlight = Set(offers.values.map(\.contact.seq)).union(begun.values.map(\.contact))
        queue.contacts.loaded(batch, by: load, lastPosition: batch.last?.seq, batchLimit: DispatchConfiguration.refillBatch) {
            !inFlight.contains($0.seq)
        }
        pump()
    }

    private func offer(_ contact: QueuedContact, from campaign: DispatchCampaign, to dialerID: DialerID, requestID: String?) {
        guard let peer = dialerPeers[dialerID] else { return }
        let attempt = nextAttempt
        nextAttempt += 1
        offers[attempt] = Offer(contact: contact, campaign: campaign, dialer: dialerID)
        metrics.offers.increment()
        dialers.offered(to: dialerID)
        let message = PlaceCall(
            attempt: attempt, account: campaign.account, campaignID: campaign.id, contactID: ContactID.format(contact.seq),
            agentID: campaign.agentID, from: campaign.from ?? "", to: contact.phoneNumber, leaseMilliseconds: configuration.leaseMilliseconds
        )
        Task {
            do {
                _ = try await peer.call(message, requestID: requestID, timeout: Double(configuration.leaseMilliseconds) / 1000)
            } catch {
                if let remote = error as? RemoteError, remote.code == .timedOut { self.suspend(dialerID) }
                self.withdraw(attempt, requeue: true)
                return
            }
            // An offer taken and never begun must not hold its slot past the lease: whoever held
            // it (stalled, buggy or hostile) is passed over for a while.
            try? await Task.sleep(for: .milliseconds(configuration.leaseMilliseconds))
            self.expire(attempt)
        }
    }

    private func expire(_ attempt: Int64) {
        guard let offer = offers[attempt] else { return }
        logger.warning("offer_expired", ["dialer": dialers[offer.dialer]?.name ?? "", "attempt": "\(attempt)"])
        suspend(offer.dialer)
        withdraw(attempt, requeue: true)
    }

    /// Stops offering to a dialer that did not answer in time, for a while.
    private func suspend(_ dialerID: DialerID) {
        let now = clock.now
        let until = now + Self.suspension
        if dialers.suspend(dialerID, until: until, now: now) {
            logger.warning("dialer_suspended", ["dialer": dialers[dialerID]?.name ?? "", "seconds": "\(Self.suspension.components.seconds)"])
        }
        scheduleWake(at: until)
    }

    static let suspension = Duration.seconds(5)

    /// Takes back an offer that was not begun; the contact goes back to the front of its queue.
    private func withdraw(_ attempt: Int64, requeue: Bool) {
        guard let offer = offers.removeValue(forKey: attempt) else { return }
        dialers.settled(offer.dialer)
        if requeue { queues[offer.campaign.seq]?.contacts.pushFront(offer.contact) }
        pump()
    }

    /// A dialer asks to place an offered call; the answer is durable before it is given.
    func begin(_ attempt: Int64, from peer: RPCPeer) async throws -> BeginCallReply {
        guard let dialerID = dialerIDs[ObjectIdentifier(peer)], let offer = offers[attempt], offer.dialer == dialerID else {
            return BeginCallReply(go: false, reason: "no such offer (expired or withdrawn)")
        }
        offers.removeValue(forKey: attempt)
        liveCalls += 1
        let started = clock.now
        let verdict: BeginVerdict
        do {
            verdict = try await store.beginCall(contact: offer.contact.seq, campaign: offer.campaign.seq, attempt: attempt,
                                                account: offer.campaign.account, number: offer.contact.phoneNumber)
        } catch {
            liveCalls -= 1
            dialers.settled(dialerID)
            queues[offer.campaign.seq]?.contacts.pushFront(offer.contact)
            pump()
            throw error
        }
        guard verdict == .go else {
            liveCalls -= 1
            dialers.settled(dialerID)
            if case .doNotCall(let effect) = verdict { apply(effect) }
            // The database says the campaign is not running: whatever queued it was stale.
            if verdict == .campaignNotRunning { Task { await self.sync(offer.campaign.seq) } }
            pump()
            return BeginCallReply(go: false, reason: "\(verdict)")
        }
        begun[attempt] = Begun(
            contact: offer.contact.seq, campaign: offer.campaign.seq, account: offer.campaign.account, number: offer.contact.phoneNumber,
            dialer: dialerID, dialerName: dialers[dialerID]?.name ?? "", started: started, leaseEnds: started + .milliseconds(configuration.leaseMilliseconds)
        )
        // Offers are paced, but commits take varying time; spacing the "go" answers themselves
        // keeps the requests reaching Plivo evenly spaced.
        if pacer != nil {
            waitingForGo += 1
            defer {
                waitingForGo -= 1
                pump()
            }
            let slot = pacer!.reserveSlot(now: clock.now)
            if slot > clock.now { try? await Task.sleep(until: slot, clock: .continuous) }
            while let opens = pacer!.windowOpens, clock.now < opens {
                try? await Task.sleep(until: opens, clock: .continuous)
            }
        }
        if recentListings.contains(where: { $0.at >= started && $0.account == offer.campaign.account && $0.numbers.contains(offer.contact.phoneNumber) }) {
            // Listed after the begin's own check, before its go-ahead: never sent.
            try? await report(ReportPlacement(attempt: attempt, contactID: ContactID.format(offer.contact.seq), outcome: .skippedDNC))
            return BeginCallReply(go: false, reason: "number put on the Do-Not-Call list")
        }
        if peer.isClosed {
            // The dialer went away while this waited for its slot: it never heard "go", so the
            // call surely was not placed and the contact can be offered again.
            try? await report(ReportPlacement(attempt: attempt, contactID: ContactID.format(offer.contact.seq),
                                              outcome: .notPlaced(reason: "dialer gone before its go-ahead", retryAfterMilliseconds: 0)))
            return BeginCallReply(go: false, reason: "dialer gone")
        }
        pacer?.recordGo(at: clock.now)
        return BeginCallReply(go: true)
    }

    /// Numbers just committed to an account's Do-Not-Call list: placements begun before and
    /// still waiting for their go-ahead are withdrawn as `skipped_dnc` instead of sent.
    func listed(account: String, numbers: Set<String>) {
        let now = clock.now
        let longestWait = Duration.milliseconds(configuration.leaseMilliseconds) + .seconds(1)
        recentListings.removeAll { now - $0.at > longestWait }
        recentListings.append((account, numbers, now))
    }

    /// - Parameter dialerName: the reporting dialer; nil when the manager itself settles a placement.
    func report(_ report: ReportPlacement, from dialerName: String? = nil) async throws {
        if let dialerName, let placement = begun[report.attempt], placement.dialerName != dialerName {
            logger.warning("report_refused", ["dialer": dialerName, "attempt": "\(report.attempt)", "begun_by": placement.dialerName])
            throw RemoteError(.forbidden, "attempt \(report.attempt) was begun by another dialer")
        }
        let effect = try await store.applyPlacement(report)
        let placement = begun.removeValue(forKey: report.attempt)
        releaseSettledWaiters()
        if let placement { dialers.settled(placement.dialer) }
        // Reports are re-sent until acknowledged; only the first one counts: the one that changed
        // the contact, or the first heard for a placement begun here (its hangup callback may
        // have got to the contact first).
        if effect.applied || placement != nil { metrics.placements.increment(["outcome": report.outcome.label]) }
        // Plivo said "later" (429, unreachable): everyone waits. A placement that simply did not
        // happen (lease expired, dialer gone) is offered again at once.
        if case .notPlaced(let reason, let retryAfter) = report.outcome, retryAfter > 0 {
            backoffUntil = clock.now + .milliseconds(retryAfter)
            logger.warning("placement_backoff", ["reason": reason, "retry_after_ms": "\(retryAfter)"])
        }
        apply(effect)
        pump()
    }

    func callEvent(_ event: CallEvent) async throws -> CallEventAck {
        let effect = try await store.applyCallEvent(event)
        apply(effect)
        pump()
        return CallEventAck(applied: effect.applied)
    }

    private func apply(_ effect: DispatchEffect) {
        if effect.releasedSlot { liveCalls = max(0, liveCalls - 1) }
        if let campaign = effect.completedCampaign {
            Task { await self.sync(campaign) }
            logger.info("campaign_completed", ["campaign_seq": "\(campaign)"])
        }
        if let campaign = effect.pausedCampaign {
            Task { await self.sync(campaign) }
            logger.error("campaign_paused_by_system", ["campaign_seq": "\(campaign)", "reason": "plivo_auth_failed"])
        }
        if let contact = effect.retry, let campaign = effect.retryCampaign {
            queues[campaign]?.contacts.pushFront(contact)
        }
    }

    private func scheduleWake(at instant: ContinuousClock.Instant) {
        if let pending = wakeAt, pending <= instant { return }
        wakeAt = instant
        Task {
            try? await Task.sleep(until: instant, clock: .continuous)
            self.woke(at: instant)
        }
    }

    private func woke(at instant: ContinuousClock.Instant) {
        if wakeAt == instant { wakeAt = nil }
        pump()
    }

    // MARK: Overdue outcomes

    private func reconcileForever() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            guard !Task.isCancelled else { return }
            await reconcile()
        }
    }

    func reconcile() async {
        guard !reconciling else { return }
        reconciling = true
        defer { reconciling = false }
        let now = clock.now
        // Placements whose dialer never reported: the call may exist.
        for (attempt, placement) in begun where now - placement.started > .seconds(configuration.placementTimeout) {
            begun.removeValue(forKey: attempt)
            releaseSettledWaiters()
            dialers.settled(placement.dialer)
            _ = try? await store.markUncertain(contact: placement.contact, attempt: attempt)
        }
        let nowMilliseconds = Timestamp.nowMilliseconds()
        let horizon = min(configuration.placementTimeout, configuration.outcomeCheckAfter)
        guard let overdue = try? await store.overdueCalls(lastEventBefore: nowMilliseconds - Int64(horizon * 1000)) else { return }
        let tracked = Set(begun.keys)
        var lookups: [(OverdueCall, Double)] = []
        for call in overdue where !tracked.contains(call.attempt) {
            let silentFor = Double(nowMilliseconds - call.lastEventAt) / 1000
            if call.callState == .placing {
                if silentFor > configuration.placementTimeout { _ = try? await store.markUncertain(contact: call.contactSeq, attempt: call.attempt) }
                continue
            }
            guard silentFor > configuration.outcomeCheckAfter else { continue }
            if let last = lastLookup[call.contactSeq], now - last < .seconds(configuration.outcomeCheckAfter) { continue }
            lastLookup[call.contactSeq] = now
            lookups.append((call, silentFor))
        }
        // Several at once, so one slow answer from Plivo does not hold up the rest.
        await withTaskGroup(of: Void.self) { group in
            for (index, (call, silentFor)) in lookups.enumerated() {
                if index >= Self.parallelLookups { await group.next() }
                group.addTask { await self.resolve(call, silentFor: silentFor) }
            }
        }
        lastLookup = lastLookup.filter { now - $0.value < .seconds(configuration.outcomeTimeout + configuration.outcomeCheckAfter) }
    }

    static let parallelLookups = 16

    /// Asks Plivo (through a dialer) what became of a call, and records the answer.
    private func resolve(_ call: OverdueCall, silentFor: Double) async {
        var lookup = CallLookup.unavailable(reason: "no dialer connected")
        if call.callUUID != nil || call.requestUUID != nil, let peer = dialerPeers.values.first {
            do {
                lookup = try await peer.call(LookupCall(callUUID: call.callUUID, requestUUID: call.requestUUID), timeout: 15)
            } catch {
                lookup = .unavailable(reason: "\(error)")
            }
        } else if call.callUUID == nil, call.requestUUID == nil {
            lookup = .unavailable(reason: "the call has no Plivo id to look up")
        }
        do {
            switch lookup {
            case .live:
                try await store.touch(contact: call.contactSeq)
            case .ended(let status, let cause, let code, let duration):
                let event = CallEvent(kind: .hangup, contactID: ContactID.format(call.contactSeq), attempt: call.attempt, callUUID: call.callUUID,
                                      requestUUID: call.requestUUID, callStatus: status, hangupCause: cause, hangupCauseCode: code,
                                      durationSeconds: duration)
                apply(try await store.applyCallEvent(event))
                lastLookup.removeValue(forKey: call.contactSeq)
            case .notFound, .unavailable:
                guard silentFor > configuration.outcomeTimeout else { return }
                let detail: String
                if case .unavailable(let reason) = lookup { detail = reason } else { detail = "Plivo does not know the call" }
                apply(try await store.failOutcomeUnknown(contact: call.contactSeq, attempt: call.attempt, detail: detail))
                lastLookup.removeValue(forKey: call.contactSeq)
            }
        } catch {
            logger.error("reconcile_failed", ["contact": ContactID.format(call.contactSeq), "error": "\(error)"])
        }
        pump()
    }
}

extension PlacementOutcome {
    /// The outcome's name as a metric label.
    var label: String {
        switch self {
        case .accepted: return "accepted"
        case .refused: return "refused"
        case .notPlaced: return "not_placed"
        case .authRejected: return "auth_rejected"
        case .uncertain: return "uncertain"
        case .skippedDNC: return "skipped_dnc"
        }
    }
}
