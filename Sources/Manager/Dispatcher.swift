import Dialing
import Foundation
import Protocol
import RPC
import Runtime

/// Pacing and limits of call placement, for the whole deployment, as configured.
struct DispatchConfiguration: Sendable {
    /// Call requests per second across all dialers; 0 turns pacing off.
    var callsPerSecond: Double = 2
    var maxConcurrentCalls = 50
    /// Calls one account may have in flight (nil: only the deployment's limit).
    var accountMaxConcurrentCalls: Int?
    var placementTimeout: Double = 30
    var outcomeCheckAfter: Double = 60
    var outcomeTimeout: Double = 900

    var settings: DispatchCore<DispatchInstant>.Settings {
        var settings = DispatchCore<DispatchInstant>.Settings(
            callsPerSecond: callsPerSecond, maxConcurrentCalls: maxConcurrentCalls, placementTimeout: .seconds(placementTimeout),
            outcomeCheckAfter: .seconds(outcomeCheckAfter), outcomeTimeout: .seconds(outcomeTimeout))
        settings.accountMaxConcurrentCalls = accountMaxConcurrentCalls
        return settings
    }
}

/// A connected dialer, as the dispatcher uses it (an `RPCPeer` in the manager, a fake in tests).
protocol DialerLink: AnyObject, Sendable {
    var isClosed: Bool { get }
    /// Sends an offer; returns when the dialer acknowledged it.
    func offer(_ call: PlaceCall, requestID: String?, timeout: Double) async throws
    func lookUp(_ request: LookupCall, timeout: Double) async throws -> CallLookup
    func cancelQueued(_ request: CancelQueuedCall, timeout: Double) async throws -> QueuedCallCancel
    /// Tells it of a change to a Do-Not-Call list.
    func tell(_ update: DNCUpdate, requestID: String?) async throws
}

extension RPCPeer: DialerLink {
    func offer(_ call: PlaceCall, requestID: String?, timeout: Double) async throws {
        _ = try await self.call(call, requestID: requestID, timeout: timeout)
    }

    func lookUp(_ request: LookupCall, timeout: Double) async throws -> CallLookup {
        try await call(request, timeout: timeout)
    }

    func cancelQueued(_ request: CancelQueuedCall, timeout: Double) async throws -> QueuedCallCancel {
        try await call(request, timeout: timeout)
    }

    func tell(_ update: DNCUpdate, requestID: String?) async throws {
        _ = try await call(update, requestID: requestID)
    }
}

/// The shell around `DispatchCore`: it feeds the core its events with the time, and performs the
/// directives it answers with (offers to dialers, loads and writes through the store, wake-ups
/// on the injected clock). Every decision is the core's.
actor Dispatcher {
    typealias Core = DispatchCore<DispatchInstant>

    private let store: Store
    private let configuration: DispatchConfiguration
    private let logger: Logger
    private let metrics: ManagerMetrics
    private let clock: DispatchClock
    private var core: Core
    /// Each member's connection, and each connection's member.
    private var links: [Core.DialerID: any DialerLink] = [:]
    private var dialerIDs: [ObjectIdentifier: Core.DialerID] = [:]
    private var reconciling = false
    /// Calls found ended by asking Plivo, their callback never having come: counted, and said at
    /// most once a minute (a wrong RYMI_PUBLIC_URL loses every callback).
    private var missedCallbacks = 0
    private var missedCallbacksSaid: ContinuousClock.Instant?
    private var reconciler: Task<Void, Never>?
    /// Callers waiting until no matching placement is on its way to Plivo.
    private var begunWaiters: [Int: BegunWaiter] = [:]
    private var nextWaiter = 0

    /// Sweeps for queued calls to stop: those asked for, those done, and who waits for which.
    private var stopSweepsAsked = 0
    private var stopSweepsDone = 0
    private var stopSweeper: Task<Void, Never>?
    private var stopWaiters: [Int: (sweep: Int, continuation: CheckedContinuation<Void, Never>)] = [:]

    private struct BegunWaiter {
        let matches: @Sendable (Core.Begun) -> Bool
        let continuation: CheckedContinuation<Void, Never>
        let timeout: Task<Void, Never>
    }

    init(store: Store, configuration: DispatchConfiguration, logger: Logger, clock: any Clock<Duration> = ContinuousClock()) {
        self.store = store
        self.metrics = store.metrics
        self.configuration = configuration
        self.logger = logger
        self.clock = DispatchClock(clock)
        core = Core(settings: configuration.settings)
    }

    /// Rebuilds the in-memory view from the database and starts the periodic reconciliation.
    func start() async throws {
        try await store.restartPlacementClocks()
        let persisted = try await store.maxAttempt()
        // Attempt ids never repeat across restarts, even for offers that were never persisted.
        let inFlight = try await store.inFlightByCampaign()
        core = Core(settings: configuration.settings, liveCalls: inFlight.reduce(0) { $0 + $1.calls }, inFlight: inFlight,
                    firstAttempt: max(persisted + 1, Timestamp.nowMilliseconds() * 1000))
        for campaign in try await store.runningCampaigns() {
            await sync(campaign)
        }
        // Starts and ends still to come survive a restart: they are in the database.
        for deadline in (try? await store.campaignDeadlines()) ?? [] { arm(deadline) }
        logger.info("dispatcher_started", [
            "running_campaigns": "\(core.runningCampaigns)", "live_calls": "\(core.liveCalls)",
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
        DispatchStatus(dialers: core.dialerNames, liveCalls: core.liveCalls, offeredCalls: core.offers.count)
    }

    /// Gauges, in Prometheus text format.
    func gaugeText() -> String {
        MetricsRegistry.gaugeText("rymi_live_calls", help: "Calls placed and not yet hung up (counts against RYMI_MAX_CONCURRENT_CALLS).", [([:], Double(core.liveCalls))])
            + MetricsRegistry.gaugeText("rymi_offered_calls", help: "Calls offered to dialers and not yet begun.", [([:], Double(core.offers.count))])
            + MetricsRegistry.gaugeText("rymi_connected_dialers", help: "Dialers registered with the manager.", [([:], Double(core.dialers.count))])
            + MetricsRegistry.gaugeText("rymi_queue_depth", help: "Contacts loaded and waiting to be offered, per running campaign total.",
                                        [([:], Double(core.queuedContacts))])
            + MetricsRegistry.gaugeText("rymi_running_campaigns", help: "Campaigns being dialed.", [([:], Double(core.runningCampaigns))])
    }

    // MARK: Campaigns

    /// Brings the campaign's queue in line with its status in the database: queued while running,
    /// gone otherwise. Called after every status change, in whatever order they finish.
    func sync(_ seq: Int64, requestID: String? = nil) async {
        do {
            let state = try await store.dispatchState(seq)
            perform(core.synced(seq, state, requestID: requestID, now: clock.now))
        } catch {
            logger.error("dispatch_sync_failed", ["campaign_seq": "\(seq)", "error": "\(error)"])
        }
    }

    /// The campaign's `start_at` or `end_at` may have changed (created, updated, started).
    func deadlinesChanged(_ seq: Int64) async {
        let deadline = (try? await store.campaignDeadlines(seq))?.first
        arm(deadline ?? (seq, .draft, nil, nil))
    }

    private func arm(_ deadline: (seq: Int64, status: CampaignStatus, startAt: Int64?, endAt: Int64?)) {
        let wallNow = Timestamp.nowMilliseconds()
        func from(_ at: Int64?) -> Duration? { at.map { .milliseconds($0 - wallNow) } }
        // A scheduled campaign whose start_at was cleared starts now.
        perform(core.deadlines(deadline.seq, startsIn: deadline.status == .scheduled ? from(deadline.startAt) ?? .zero : nil,
                               endsIn: from(deadline.endAt), now: clock.now))
    }

    /// New contacts in a running campaign: look for them the next time its queue runs low.
    func contactsAdded(campaign: Int64) {
        perform(core.contactsAdded(campaign: campaign, now: clock.now))
    }

    /// Waits until every begun placement matching `predicate` has been reported: a request still
    /// on its way to Plivo could otherwise arrive after the caller's answer. Bounded by the
    /// placement timeout, after which such a placement counts as possibly placed anyway.
    func waitForBegunPlacements(matching predicate: @escaping @Sendable (Core.Begun) -> Bool) async {
        guard core.hasBegun(where: predicate) else { return }
        let id = nextWaiter
        nextWaiter += 1
        let limit = Duration.seconds(configuration.placementTimeout)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let timeout = Task {
                try? await clock.sleep(for: limit)
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
        for (id, waiter) in begunWaiters where !core.hasBegun(where: waiter.matches) { releaseWaiter(id) }
    }

    // MARK: Dialers

    func register(_ link: any DialerLink, name: String, slots: Int) {
        let (id, directives) = core.dialerJoined(name: name, slots: slots, now: clock.now)
        dialerIDs[ObjectIdentifier(link)] = id
        links[id] = link
        logger.info("dialer_registered", ["dialer": name, "slots": "\(slots)", "dialers": "\(core.dialers.count)"])
        perform(directives)
    }

    func unregister(_ link: any DialerLink) {
        guard let id = dialerIDs.removeValue(forKey: ObjectIdentifier(link)), let name = core.dialers[id]?.name else { return }
        links.removeValue(forKey: id)
        let directives = core.dialerLeft(id, now: clock.now)
        logger.warning("dialer_lost", ["dialer": name, "dialers": "\(core.dialers.count)"])
        perform(directives)
    }

    var connectedDialers: [any DialerLink] { Array(links.values) }

    // MARK: Placements

    /// A dialer asks to place an offered call (or, with `renew`, for a new slot for one it could
    /// not send in time); the begin is durable before "go" is answered, and "go" waits for its
    /// pacing slot.
    func begin(_ request: BeginCall, from link: any DialerLink, dialerName: String) async throws -> BeginCallReply {
        let arrived = clock.now
        var step = request.renew == true
            ? core.renewRequested(request.attempt, byName: dialerName, now: arrived)
            : core.beginRequested(request.attempt, by: dialerIDs[ObjectIdentifier(link)], now: arrived)
        while true {
            switch step {
            case .commit(let offer):
                let verdict: BeginVerdict
                do {
                    verdict = try await store.beginCall(contact: offer.contact.seq, campaign: offer.campaign.seq, attempt: offer.attempt,
                                                        account: offer.campaign.account, number: offer.contact.phoneNumber)
                } catch {
                    perform(core.beginFailed(offer, now: clock.now))
                    releaseSettledWaiters()
                    throw error
                }
                let (next, directives) = core.beginCommitted(offer, verdict, now: clock.now)
                releaseSettledWaiters()
                perform(directives)
                step = next
            case .waitUntil(let instant):
                if instant > clock.now { try? await clock.sleep(until: instant) }
                let (next, directives) = core.goDue(request.attempt, now: clock.now, dialerGone: link.isClosed)
                perform(directives)
                step = next
            case .settle(let report, let reply):
                try? await self.report(report)
                return reply
            case .answer(let reply):
                return reply
            }
        }
    }

    /// Numbers just committed to an account's Do-Not-Call list: placements begun before and
    /// still waiting for their go-ahead are withdrawn as `skipped_dnc` instead of sent.
    func listed(account: String, numbers: Set<String>) {
        core.listed(account: account, numbers: numbers, now: clock.now)
    }

    /// - Parameter dialerName: the reporting dialer; nil when the manager itself settles a placement.
    func report(_ report: ReportPlacement, from dialerName: String? = nil) async throws {
        if let refusal = core.mayReport(report.attempt, dialerName: dialerName) {
            note(refusal)
            throw RemoteError(.forbidden, "attempt \(report.attempt) was begun by another dialer")
        }
        let effect = try await store.applyPlacement(report)
        let (counted, directives) = core.reported(report, effect: effect, now: clock.now)
        releaseSettledWaiters()
        if counted { metrics.placements.increment(["outcome": report.outcome.label]) }
        perform(directives)
    }

    func callEvent(_ event: CallEvent) async throws -> CallEventAck {
        let effect = try await store.applyCallEvent(event)
        perform(core.changed(by: effect, now: clock.now))
        return CallEventAck(applied: effect.applied)
    }

    // MARK: Directives

    private func perform(_ directives: [Core.Directive]) {
        for directive in directives {
            switch directive {
            case .offer(let offer): send(offer)
            case .load(let campaign, let queue, let load):
                Task {
                    let found = (try? await store.pendingContacts(campaign: campaign, after: load.after, limit: core.settings.refillBatch)) ?? ContactLoad()
                    let opensIn = found.windowOpensAt.map { Duration.milliseconds(max(1, $0 - Timestamp.nowMilliseconds())) }
                    self.perform(self.core.loaded(campaign: campaign, queue: queue, found.contacts, by: load, scanned: found.scanned,
                                                  lastPosition: found.lastPosition, windowOpensIn: opensIn, now: self.clock.now))
                }
            case .wake(let instant):
                Task {
                    try? await clock.sleep(until: instant)
                    self.perform(self.core.tick(now: self.clock.now, armedFor: instant))
                }
            case .resync(let campaign): Task { await self.sync(campaign) }
            case .markUncertain(let contact, let attempt): Task { _ = try? await store.markUncertain(contact: contact, attempt: attempt) }
            case .lookUp: break  // run by `reconcile`, which bounds how many at once
            case .startScheduled(let campaign):
                Task {
                    if (try? await store.startScheduledCampaign(campaign)) == true {
                        logger.info("campaign_started", ["campaign_seq": "\(campaign)", "by": "start_at"])
                        await self.sync(campaign)
                    }
                }
            case .endCampaign(let campaign):
                Task {
                    if (try? await store.endCampaign(campaign)) == true {
                        logger.info("campaign_ended", ["campaign_seq": "\(campaign)", "by": "end_at"])
                        await self.sync(campaign)
                    }
                }
            case .notice(let notice): note(notice)
            }
        }
    }

    private func send(_ offer: Core.Offer) {
        guard let link = links[offer.dialer] else {
            perform(core.offerFailed(offer.attempt, timedOut: false, now: clock.now))
            return
        }
        metrics.offers.increment()
        let lease = core.settings.lease
        let message = PlaceCall(
            attempt: offer.attempt, account: offer.campaign.account, campaignID: offer.campaign.id, contactID: ContactID.format(offer.contact.seq),
            agentID: offer.campaign.agentID, from: offer.campaign.from ?? "", to: offer.contact.phoneNumber,
            leaseMilliseconds: Int(Core.microseconds(lease) / 1000),
            machineDetection: offer.campaign.machineDetection, machineDetectionTime: offer.campaign.machineDetectionTime
        )
        Task {
            do {
                try await link.offer(message, requestID: offer.requestID, timeout: Double(Core.microseconds(lease)) / 1e6)
                self.perform(self.core.offerTaken(offer.attempt, now: self.clock.now))
            } catch {
                let timedOut = (error as? RemoteError)?.code == .timedOut
                self.perform(self.core.offerFailed(offer.attempt, timedOut: timedOut, now: self.clock.now))
            }
        }
    }

    private func note(_ notice: Core.Notice) {
        switch notice {
        case .offerExpired(let dialer, let attempt): logger.warning("offer_expired", ["dialer": dialer, "attempt": "\(attempt)"])
        case .dialerSuspended(let dialer, let seconds): logger.warning("dialer_suspended", ["dialer": dialer, "seconds": "\(seconds)"])
        case .backoff(let reason, let after): logger.warning("placement_backoff", ["reason": reason, "retry_after_ms": "\(after)"])
        case .campaignCompleted(let campaign): logger.info("campaign_completed", ["campaign_seq": "\(campaign)"])
        case .campaignPausedBySystem(let campaign):
            logger.error("campaign_paused_by_system", ["campaign_seq": "\(campaign)", "reason": "plivo_auth_failed"])
        case .reportRefused(let dialer, let attempt, let begunBy):
            logger.warning("report_refused", ["dialer": dialer, "attempt": "\(attempt)", "begun_by": begunBy])
        }
    }

    // MARK: Stopping queued calls

    /// Asks Plivo to cancel every call it holds queued whose campaign stopped or whose number was
    /// listed, and returns once a sweep that began after this call has had every answer, or after
    /// `limit`. Sweeps run one at a time, so one request is never canceled twice at once (a
    /// second cancel answered 404 would read as "the call started").
    func stopQueuedCalls(waitingAtMost limit: Duration) async {
        let sweep = sweepQueuedCallsSoon()
        let id = nextWaiter
        nextWaiter += 1
        let timeout = Task {
            try? await clock.sleep(for: limit)
            self.releaseStopWaiter(id)
        }
        await withCheckedContinuation { continuation in stopWaiters[id] = (sweep, continuation) }
        timeout.cancel()
    }

    /// Asks for a sweep that begins after now (one starts unless one is running) and returns
    /// its number; the reconciler asks and waits for nobody.
    @discardableResult
    private func sweepQueuedCallsSoon() -> Int {
        stopSweepsAsked += 1
        if stopSweeper == nil { stopSweeper = Task { await self.sweepQueuedCalls() } }
        return stopSweepsAsked
    }

    private func sweepQueuedCalls() async {
        while stopSweepsDone < stopSweepsAsked {
            let sweep = stopSweepsAsked
            let calls = (try? await store.queuedCallsToStop()) ?? []
            let due = core.queuedCallsToStop(calls, now: clock.now)
            await withTaskGroup(of: Void.self) { group in
                for (index, call) in due.enumerated() {
                    if index >= Self.parallelLookups { await group.next() }
                    group.addTask { await self.stop(call) }
                }
            }
            stopSweepsDone = sweep
            for (id, waiter) in stopWaiters where waiter.sweep <= sweep { releaseStopWaiter(id) }
        }
        stopSweeper = nil
    }

    private func releaseStopWaiter(_ id: Int) {
        stopWaiters.removeValue(forKey: id)?.continuation.resume()
    }

    /// One cancel, through any dialer, and what its answer does to the contact.
    private func stop(_ call: QueuedCallToStop) async {
        let answer = await askAnyDialer(unavailable: QueuedCallCancel.unavailable) {
            try await $0.cancelQueued(CancelQueuedCall(requestUUID: call.requestUUID), timeout: 15)
        }
        guard let event = core.stopAnswered(call, answer, now: clock.now) else {
            logger.warning("queued_call_cancel_failed", ["contact": ContactID.format(call.contactSeq), "request_uuid": call.requestUUID, "answer": "\(answer)"])
            return
        }
        do {
            let effect = try await store.applyQueuedCallAnswer(contact: call.contactSeq, event)
            if effect.applied { metrics.queuedCallsStopped.increment(["answer": answer == .canceled ? "canceled" : "started", "reason": call.reason.rawValue]) }
            perform(core.changed(by: effect, now: clock.now))
        } catch {
            logger.error("queued_call_cancel_unrecorded", ["contact": ContactID.format(call.contactSeq), "error": "\(error)"])
        }
    }

    // MARK: Overdue outcomes

    private func reconcileForever() async {
        while !Task.isCancelled {
            try? await clock.sleep(for: .milliseconds(500))
            guard !Task.isCancelled else { return }
            await reconcile()
        }
    }

    func reconcile() async {
        guard !reconciling else { return }
        reconciling = true
        defer { reconciling = false }
        let timedOut = core.placementsTimedOut(now: clock.now)
        releaseSettledWaiters()
        perform(timedOut)
        // Retries cancels that could not be asked for, and catches queued calls reported after
        // their campaign stopped.
        sweepQueuedCallsSoon()
        let wallNow = Timestamp.nowMilliseconds()
        guard let calls = try? await store.overdueCalls(lastEventBefore: wallNow - core.overdueHorizonMilliseconds) else { return }
        let directives = core.overdue(calls, wallNow: wallNow, now: clock.now)
        perform(directives)
        let lookups = directives.compactMap { directive -> OverdueCall? in
            if case .lookUp(let call) = directive { return call }
            return nil
        }
        // Several at once, so one slow answer from Plivo does not hold up the rest.
        await withTaskGroup(of: Void.self) { group in
            for (index, call) in lookups.enumerated() {
                if index >= Self.parallelLookups { await group.next() }
                group.addTask { await self.resolve(call) }
            }
        }
    }

    static let parallelLookups = 16

    /// Asks Plivo through any connected dialer (they share its account); `unavailable` says why not.
    private func askAnyDialer<Answer>(unavailable: (String) -> Answer, _ ask: (any DialerLink) async throws -> Answer) async -> Answer {
        guard let link = links.values.first else { return unavailable("no dialer connected") }
        do {
            return try await ask(link)
        } catch {
            return unavailable("\(error)")
        }
    }

    private func callbackMissed() {
        missedCallbacks += 1
        let now = ContinuousClock.now
        if let said = missedCallbacksSaid, now - said < .seconds(60) { return }
        logger.warning("callbacks_missing", [
            "calls": "\(missedCallbacks)",
            "hint": "calls ended without Plivo's callback reaching the gateway (learned by asking Plivo); check that RYMI_PUBLIC_URL is the gateway's address as Plivo can reach it",
        ])
        missedCallbacks = 0
        missedCallbacksSaid = now
    }

    /// Asks Plivo (through a dialer) what became of a call, and records the answer.
    private func resolve(_ call: OverdueCall) async {
        let lookup = call.callUUID == nil && call.requestUUID == nil
            ? .unavailable(reason: "the call has no Plivo id to look up")
            : await askAnyDialer(unavailable: CallLookup.unavailable) {
                try await $0.lookUp(LookupCall(callUUID: call.callUUID, requestUUID: call.requestUUID), timeout: 15)
            }
        do {
            switch core.lookedUp(call, lookup, wallNow: Timestamp.nowMilliseconds()) {
            case .nothing: break
            case .touch: try await store.touch(contact: call.contactSeq)
            case .hangup(let event):
                callbackMissed()
                perform(core.changed(by: try await store.applyCallEvent(event), now: clock.now))
            case .failOutcomeUnknown(let detail):
                let effect = try await store.failOutcomeUnknown(contact: call.contactSeq, attempt: call.attempt, detail: detail)
                perform(core.changed(by: effect, now: clock.now))
            }
        } catch {
            logger.error("reconcile_failed", ["contact": ContactID.format(call.contactSeq), "error": "\(error)"])
        }
    }
}

/// The injected clock, read as offsets from when the dispatcher started: the core's instants.
struct DispatchClock: Sendable {
    private let read: @Sendable () -> DispatchInstant
    private let sleeper: @Sendable (DispatchInstant) async throws -> Void

    init(_ clock: some Clock<Duration>) {
        let origin = clock.now
        read = { DispatchInstant(origin.duration(to: clock.now)) }
        sleeper = { try await clock.sleep(until: origin.advanced(by: $0.sinceOrigin), tolerance: nil) }
    }

    var now: DispatchInstant { read() }
    func sleep(until instant: DispatchInstant) async throws { try await sleeper(instant) }
    func sleep(for duration: Duration) async throws { try await sleeper(now.advanced(by: duration)) }
}

extension PlacementOutcome {
    /// The outcome's name as a metric label.
    var label: String {
        switch self {
        case .accepted: return "accepted"
        case .queued: return "queued"
        case .refused: return "refused"
        case .notPlaced: return "not_placed"
        case .authRejected: return "auth_rejected"
        case .uncertain: return "uncertain"
        case .skippedDNC: return "skipped_dnc"
        }
    }
}
