import Crypto
import Foundation
import FoundationNetworking
import HTTP1
import Runtime
import Transport

/// Sends the outbox's deliveries. It lives in the manager, beside the outbox it reads: a
/// separate process would need a protocol to claim and settle deliveries, and a second writer of
/// the database, to gain nothing the manager's event loop needs (sending is asynchronous HTTP).
///
/// It reads due deliveries through the reader's connection, which sees only committed rows, so
/// nothing is sent for a change that rolled back. Each endpoint has a few deliveries in flight at
/// most, and they all together a bounded number, so a slow or dead endpoint only ever holds its
/// own. A delivery is the earliest pending event of its contact for its endpoint: events of a
/// contact arrive in order.
///
/// Each endpoint keeps a short queue of deliveries read ahead, so a request that ends starts the
/// next at once rather than after a read. A delivery is queued, then sent, then settling (its
/// outcome being written); until its outcome is committed it is in none of the reads, so it is
/// never sent twice.
///
/// Sending (signing, and the requests' I/O) runs on an event loop of its own at a lower CPU
/// priority: on a box short of CPU, dialing goes first and deliveries catch up when it has room
/// (they wait in the outbox anyway). Only the send prefers that loop: the store's commit must
/// not be scheduled from a task that does (a commit so scheduled was never run).
actor WebhookSender {
    struct Settings: Sendable {
        var timeout: Double = 10
        var perEndpoint = 16
        var total = 128
        /// How long an event is retried before it fails.
        var retryFor: Int64 = 24 * 3_600_000
        /// The first retry's delay (ms); each next one doubles, up to an hour.
        var firstRetry: Double = 8000
        var policy = OutboundURLPolicy()
    }

    /// One endpoint's deliveries between the outbox and their written outcome.
    private struct Endpoint {
        var queued: [DueDelivery] = []
        var sending = 0
        /// Events queued, sent or settling: not to be read again.
        var held: Set<Int64> = []
    }

    private let store: Store
    private let reader: Reader
    private let settings: Settings
    private let logger: Logger
    private let metrics: ManagerMetrics
    private let loop = EventLoop(name: "rymi.webhooks", niceness: 10)
    private let client: HTTPClient
    private let session: URLSession
    private var endpoints: [Int64: Endpoint] = [:]
    private var sending = 0
    private var queued = 0
    /// The endpoint served last: the next read starts after it.
    private var lastServed: Int64 = 0
    private var nudged = false
    private var sleeper: CheckedContinuation<Void, Never>?
    private var outcomes: [(delivery: DueDelivery, result: Store.DeliveryResult)] = []
    private var recording = false
    /// Bulk events may wait to be expanded into their contacts' events (at start: from before a restart).
    private var expanding = true
    private var expansionFailed = false

    init(store: Store, reader: Reader, settings: Settings, logger: Logger, metrics: ManagerMetrics) {
        self.store = store
        self.reader = reader
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        client = HTTPClient(timeout: settings.timeout, loop: loop)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        configuration.timeoutIntervalForResource = settings.timeout
        configuration.httpMaximumConnectionsPerHost = settings.perEndpoint
        session = URLSession(configuration: configuration)
    }

    /// New events were committed (`bulk`: a bulk event to expand among them), or outcomes written:
    /// look now rather than at the next poll.
    func nudge(bulk: Bool = false) {
        if bulk { expanding = true }
        nudged = true
        sleeper?.resume()
        sleeper = nil
    }

    func run() async {
        var lastRead = ContinuousClock.now - .seconds(1)
        while !Task.isCancelled {
            // Reads at most every few milliseconds: the nudges of a busy outbox (every commit, every
            // batch of outcomes) share one, and each read fills every queue.
            let gap = lastRead + .milliseconds(3) - ContinuousClock.now
            if gap > .zero { try? await Task.sleep(for: gap) }
            nudged = false
            lastRead = ContinuousClock.now
            if expanding { await expandBulkEvents() }
            await readDue()
            if nudged || expanding { continue }
            // Poll at least every half second (retries come due without a commit to nudge us).
            let wake = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(500))
                await self?.nudge()
            }
            await withCheckedContinuation { sleeper = $0 }
            wake.cancel()
            if expansionFailed {
                expansionFailed = false
                expanding = true
            }
        }
    }

    /// One chunk of a bulk event's contacts: a thousand events per transaction, so the writer
    /// is never held long, and deliveries start while the rest are written.
    private func expandBulkEvents() async {
        do {
            expanding = try await store.expandBulkEvents(limit: 1000)
        } catch {
            logger.error("webhook_bulk_events_unexpanded", ["error": "\(error)"])
            expanding = false
            expansionFailed = true
        }
    }

    /// Fills the endpoints' queues (each up to its concurrency, all up to twice the total) and
    /// starts what may start.
    private func readDue() async {
        let room = 2 * settings.total - queued
        guard room > 0 else { return }
        let held = endpoints.mapValues(\.held), perEndpoint = settings.perEndpoint, after = lastServed
        let due = (try? await reader.read {
            try $0.dueDeliveries(now: Timestamp.nowMilliseconds(), free: room, perEndpoint: perEndpoint, held: held, after: after)
        }) ?? []
        lastServed = due.last?.webhook ?? lastServed
        for delivery in due where endpoints[delivery.webhook, default: Endpoint()].held.insert(delivery.event).inserted {
            endpoints[delivery.webhook]?.queued.append(delivery)
            queued += 1
        }
        startQueued(after: lastServed)
    }

    /// Starts queued deliveries while there is room, taking endpoints in turn from the one after
    /// `after`: a place freed by one endpoint goes to the others first.
    private func startQueued(after: Int64) {
        let waiting = endpoints.filter { !$0.value.queued.isEmpty }.keys.sorted()
        guard !waiting.isEmpty else { return }
        let first = waiting.firstIndex { $0 > after } ?? 0
        for webhook in waiting[first...] + waiting[..<first] where sending < settings.total { startQueued(webhook) }
    }

    private func startQueued(_ webhook: Int64) {
        while sending < settings.total, var endpoint = endpoints[webhook], endpoint.sending < settings.perEndpoint, !endpoint.queued.isEmpty {
            let delivery = endpoint.queued.removeFirst()
            endpoint.sending += 1
            endpoints[webhook] = endpoint
            queued -= 1
            sending += 1
            Task { await self.deliver(delivery) }
        }
    }

    private func deliver(_ delivery: DueDelivery) async {
        let result = await withTaskExecutorPreference(loop) { await self.send(delivery) }
        // Its place is free as soon as its answer is in: the next queued goes at once.
        endpoints[delivery.webhook]?.sending -= 1
        sending -= 1
        startQueued(after: delivery.webhook)
        outcomes.append((delivery, result))
        guard !recording else { return }
        recording = true
        // Outcomes that come while one batch is being written go in the next: one write for many
        // deliveries. A delivery stays held until its outcome is written, so it is never read as
        // due (and sent) again meanwhile.
        while !outcomes.isEmpty {
            let batch = outcomes
            outcomes = []
            do {
                try await store.recordDeliveries(batch)
            } catch {
                logger.error("webhook_deliveries_unrecorded", ["count": "\(batch.count)", "error": "\(error)"])
            }
            for (delivery, result) in batch {
                switch result {
                case .delivered: metrics.webhookDeliveries.increment(["outcome": "delivered"])
                case .notDelivered(_, _, _, let retryAt): metrics.webhookDeliveries.increment(["outcome": retryAt == nil ? "failed" : "retrying"])
                }
                endpoints[delivery.webhook]?.held.remove(delivery.event)
                if let endpoint = endpoints[delivery.webhook], endpoint.held.isEmpty { endpoints.removeValue(forKey: delivery.webhook) }
            }
        }
        recording = false
        nudge()
    }

    /// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with a second `v1` by the
    /// previous secret while a rotation's day runs.
    static func signature(body: [UInt8], secrets: [String], at seconds: Int64) -> String {
        let signed = Array("\(seconds).".utf8) + body
        return (["t=\(seconds)"] + secrets.map { "v1=" + Hex.encode(HMACSHA256.authenticate(signed, key: Array($0.utf8))) })
            .joined(separator: ",")
    }

    private nonisolated func send(_ delivery: DueDelivery) async -> Store.DeliveryResult {
        let started = ContinuousClock.now
        func latency() -> Int {
            let elapsed = ContinuousClock.now - started
            return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        }
        // Checked again at each send: a name may point elsewhere than when it was registered.
        if let problem = settings.policy.problem(delivery.url) {
            return retry(delivery, status: nil, latency: 0, error: "url \(problem)")
        }
        let headers = [
            ("Content-Type", "application/json"), ("User-Agent", "Rymi-Webhooks/1"), ("Rymi-Event-Id", delivery.eventID),
            ("Rymi-Signature", Self.signature(body: delivery.body, secrets: [delivery.secret] + (delivery.previousSecret.map { [$0] } ?? []),
                                               at: Timestamp.nowMilliseconds() / 1000)),
        ]
        let status: Int
        do {
            if delivery.url.lowercased().hasPrefix("http://") {
                status = try await client.send("POST", delivery.url, headers: headers.map { (name: $0.0, value: $0.1) }, body: delivery.body).status
            } else {
                guard let url = URL(string: delivery.url) else { return .notDelivered(status: nil, latency: 0, error: "invalid url", retryAt: nil) }
                var request = URLRequest(url: url)
                request.httpMethod = "POST"
                for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
                request.httpBody = Data(delivery.body)
                status = try await session.httpResponse(for: request).1.statusCode
            }
        } catch {
            return retry(delivery, status: nil, latency: latency(), error: "\(error)")
        }
        switch status {
        case 200..<300: return .delivered(status: status, latency: latency())
        case 408, 429, 500...599: return retry(delivery, status: status, latency: latency(), error: "HTTP \(status)")
        default: return .notDelivered(status: status, latency: latency(), error: "HTTP \(status): refused by the receiver", retryAt: nil)
        }
    }

    /// Again after an exponential backoff with jitter (the first within about 10 s, then doubling
    /// up to an hour), for 24 hours from the event; failed after that.
    private nonisolated func retry(_ delivery: DueDelivery, status: Int?, latency: Int, error: String) -> Store.DeliveryResult {
        let now = Timestamp.nowMilliseconds()
        let base = min(settings.firstRetry * pow(2, Double(min(delivery.attempts, 20))), 3_600_000)
        let retryAt = now + Int64(base * Double.random(in: 0.75...1.25))
        let expired = retryAt - delivery.eventCreatedAt > settings.retryFor
        return .notDelivered(status: status, latency: latency, error: error, retryAt: expired ? nil : retryAt)
    }
}
