import Foundation
import HTTP1
import Plivo
import Protocol
import RPC
import Runtime

/// `rymi-dialer`: takes call offers from the manager, enforces the Do-Not-Call list, places the
/// calls on Plivo and reports what happened. Stateless: any number can run, and any can die.
public final class DialerService: Service, @unchecked Sendable {
    private let configuration: DialerConfiguration
    private let logger: Logger
    private let plivo: PlivoClient
    /// Lookups get their own connections, so a slow one never queues a call request behind it.
    private let lookups: PlivoClient
    private let state = DialerState()
    private var client: RPCClient!
    /// Report retries and the status file: background loops that end with the service.
    private let background = BackgroundTasks()

    public init(configuration: DialerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        for warning in configuration.secretWarnings { logger.warning("weak_secret", ["problem": warning]) }
        plivo = PlivoClient(account: configuration.plivo, timeout: configuration.plivoTimeout, maxConnections: configuration.slots,
                            userAgent: "rymi-dialer/\(configuration.name)")
        lookups = PlivoClient(account: configuration.plivo, timeout: configuration.plivoTimeout, maxConnections: 4,
                              userAgent: "rymi-dialer/\(configuration.name)")
        var router = RPCRouter()
        router.on(PlaceCall.self) { [unowned self] offer, context in
            guard await state.admit() else { throw RemoteError(.unavailable, "dialer is shutting down") }
            Task { await self.place(offer, received: ContinuousClock.now, requestID: context.requestID ?? "") }
            return Empty()
        }
        router.on(DNCUpdate.self) { [unowned self] update, context in
            await state.apply(update)
            self.logger.info("dnc_updated", ["request_id": context.requestID ?? "", "added": "\(update.added.count)", "removed": "\(update.removed.count)"])
            return Empty()
        }
        router.on(LookupCall.self) { [unowned self] lookup, _ in await self.lookup(lookup) }
        router.on(CancelQueuedCall.self) { [unowned self] request, context in await self.cancelQueued(request, requestID: context.requestID ?? "") }
        client = RPCClient(address: configuration.managerAddress, role: .dialer, name: configuration.name, secret: configuration.managerSecret,
                           router: router, logger: logger) { [unowned self] peer in
            await self.registered(on: peer)
        }
    }

    public func run() async throws {
        logger.info("dialer_starting", ["name": configuration.name, "manager": configuration.managerAddress.description,
                                        "plivo": configuration.plivo.apiURL, "slots": "\(configuration.slots)"])
        background.start { await self.retryReportsForever() }
        background.start { await self.writeStatusForever() }
        try await client.run()
    }

    /// Stops taking offers, lets placements in flight finish and report, then disconnects.
    public func shutdown() async {
        await state.beginDraining()
        let deadline = ContinuousClock.now + .seconds(configuration.plivoTimeout + 5)
        while ContinuousClock.now < deadline, await state.busy {
            await flushReports()
            try? await Task.sleep(for: .milliseconds(20))
        }
        await client.shutdown()
        background.cancelAll()
        logger.info("dialer_stopped", ["unreported": "\(await state.unreportedCount)", "slots_missed": "\(await state.slotsMissed)"])
    }

    private func registered(on peer: RPCPeer) async {
        switch await plivo.warmUp() {
        case 200?: break
        case let status?: logger.error("plivo_account_check_failed", ["status": "\(status)", "hint": "check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"])
        case nil: logger.warning("plivo_unreachable", ["url": configuration.plivo.apiURL])
        }
        do {
            let registration = try await peer.call(RegisterDialer(name: configuration.name, slots: configuration.slots))
            for update in registration.dnc { await state.apply(update) }
            logger.info("dialer_registered", ["dnc_accounts": "\(registration.dnc.count)"])
            await flushReports()
        } catch {
            logger.error("dialer_register_failed", ["error": "\(error)"])
            peer.close()
        }
    }

    // MARK: Placing calls

    private func place(_ offer: PlaceCall, received: ContinuousClock.Instant, requestID: String) async {
        defer { Task { await state.placementEnded() } }
        // Looked up before asking to begin, so nothing waits between the go-ahead and the
        // request (that gap is pacing jitter). A number listed later is caught by the manager:
        // at the begin's commit, or while the begin waits for its pacing slot.
        let listed = await state.isListed(account: offer.account, number: offer.to)
        let manager: RPCClient = client
        let plivo = plivo
        let request = callRequest(for: offer)
        let edges = Placement.Edges(
            begin: { try await manager.call($0, timeout: Double(offer.leaseMilliseconds) / 1000) },
            send: { await plivo.placeCall(request, sendBy: $0) },
            now: { ContinuousClock.now }
        )
        let placement = await Placement.run(offer, received: received, listed: listed, edges: edges)
        for _ in 0..<placement.slotsMissed {
            await state.slotMissed()
            logger.info("slot_missed", ["request_id": requestID, "contact": offer.contactID, "attempt": "\(offer.attempt)"])
        }
        guard let outcome = placement.outcome else { return }
        switch outcome {
        case .accepted: logger.debug("call_placed", ["request_id": requestID, "contact": offer.contactID, "attempt": "\(offer.attempt)"])
        case .queued(let uuid):
            logger.info("call_queued_at_plivo", ["request_id": requestID, "contact": offer.contactID, "attempt": "\(offer.attempt)", "request_uuid": uuid])
        case .skippedDNC: logger.info("dnc_skipped", ["request_id": requestID, "contact": offer.contactID])
        default: logger.warning("placement_not_accepted", ["request_id": requestID, "contact": offer.contactID, "outcome": "\(outcome)"])
        }
        await report(ReportPlacement(attempt: offer.attempt, contactID: offer.contactID, outcome: outcome))
    }

    /// The callback URLs carry the attempt, so every callback names the exact attempt it is about;
    /// Plivo signs the whole URL, so none of it can be forged.
    func callRequest(for offer: PlaceCall) -> PlivoCallRequest {
        let base = configuration.publicURL + "/callbacks/plivo/"
        let identity = FormEncoding.encodePairs([("contact", offer.contactID), ("attempt", String(offer.attempt))])
        let answer = FormEncoding.encodePairs([("campaign", offer.campaignID), ("agent", offer.agentID)])
        var request = PlivoCallRequest(
            from: offer.from, to: offer.to,
            answerURL: base + "answer?" + identity + "&" + answer,
            hangupURL: base + "hangup?" + identity,
            ringURL: base + "ring?" + identity,
            ringTimeout: configuration.ringTimeout, timeLimit: configuration.timeLimit
        )
        if let mode = offer.machineDetection {
            request.machineDetection = mode
            request.machineDetectionTime = offer.machineDetectionTime
            request.machineDetectionURL = base + "machine?" + identity
        }
        return request
    }

    // MARK: Reports

    /// Reports are kept until the manager acknowledges them, across reconnects.
    private func report(_ report: ReportPlacement) async {
        await state.queue(report)
        await flushReports()
    }

    private func flushReports() async {
        for report in await state.takeUnsent() {
            do {
                _ = try await client.call(report, timeout: 10)
                await state.acknowledged(report.attempt)
            } catch {
                await state.unsent(report.attempt)
            }
        }
    }

    private func retryReportsForever() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            await flushReports()
        }
    }

    // MARK: Health

    /// Every 2 s: `<now> <connected 0|1> <last time connected>`, read by `--health-check`.
    private func writeStatusForever() async {
        // Starting up counts as connected, so a new dialer gets the same minute as a disconnected one.
        var lastConnected = Int(Date().timeIntervalSince1970)
        while !Task.isCancelled {
            let now = Int(Date().timeIntervalSince1970)
            let connected = client.isConnected
            if connected { lastConnected = now }
            try? "\(now) \(connected ? 1 : 0) \(lastConnected)\n".write(toFile: configuration.statusFile, atomically: true, encoding: .utf8)
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Healthy while the status is fresh and the manager was reachable within the last minute.
    public static func healthCheck(statusFile: String) -> Bool {
        guard let text = try? String(contentsOfFile: statusFile, encoding: .utf8) else { return false }
        let fields = text.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard fields.count == 3 else { return false }
        let now = Int(Date().timeIntervalSince1970)
        return now - fields[0] < 15 && now - fields[2] < 60
    }

    // MARK: Lookups

    private func lookup(_ request: LookupCall) async -> CallLookup {
        guard let uuid = request.callUUID ?? request.requestUUID else { return .notFound }
        switch await lookups.lookup(callUUID: uuid) {
        case .live: return .live
        case .queued: return .queued
        case let .ended(status, cause, code, duration): return .ended(callStatus: status, hangupCause: cause, hangupCauseCode: code, durationSeconds: duration)
        case .notFound: return .notFound
        case .unavailable(let reason): return .unavailable(reason: reason)
        }
    }

    // MARK: Queued calls

    private func cancelQueued(_ request: CancelQueuedCall, requestID: String) async -> QueuedCallCancel {
        let answer: QueuedCallCancel = switch await lookups.cancelQueued(requestUUID: request.requestUUID) {
        case .canceled: .canceled
        case .notQueued: .notQueued
        case .unavailable(let reason): .unavailable(reason: reason)
        }
        logger.info("queued_call_cancel", ["request_id": requestID, "request_uuid": request.requestUUID, "answer": "\(answer)"])
        return answer
    }
}

/// The dialer's mutable state: its copy of the Do-Not-Call list, unacknowledged reports, and
/// how many placements are under way.
actor DialerState {
    private var doNotCall: Set<String> = []
    private var reports: [Int64: ReportPlacement] = [:]
    private var placing = 0
    private var draining = false

    private static func key(_ account: String, _ number: String) -> String { account + "\u{1F}" + number }

    func apply(_ update: DNCUpdate) {
        for number in update.added { doNotCall.insert(Self.key(update.account, number)) }
        for number in update.removed { doNotCall.remove(Self.key(update.account, number)) }
    }

    func isListed(account: String, number: String) -> Bool { doNotCall.contains(Self.key(account, number)) }

    /// Takes an offer unless draining.
    func admit() -> Bool {
        guard !draining else { return false }
        placing += 1
        return true
    }

    func placementEnded() { placing -= 1 }
    /// Go-aheads that came or would have left too late for their slot, and were asked again.
    private(set) var slotsMissed = 0
    func slotMissed() { slotsMissed += 1 }
    func beginDraining() { draining = true }
    var busy: Bool { placing > 0 || !reports.isEmpty }
    var unreportedCount: Int { reports.count }

    /// Reports being sent right now, so two flushes never send the same one at once.
    private var sending: Set<Int64> = []

    func queue(_ report: ReportPlacement) { reports[report.attempt] = report }

    func takeUnsent() -> [ReportPlacement] {
        let unsent = reports.values.filter { !sending.contains($0.attempt) }.sorted { $0.attempt < $1.attempt }
        sending.formUnion(unsent.map(\.attempt))
        return unsent
    }

    func acknowledged(_ attempt: Int64) {
        reports.removeValue(forKey: attempt)
        sending.remove(attempt)
    }

    func unsent(_ attempt: Int64) { sending.remove(attempt) }
}
