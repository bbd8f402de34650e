import Crypto
import Foundation
import FoundationNetworking
import HTTP1
import Runtime

/// Sends the outbox's deliveries. It lives in the manager, beside the outbox it reads: a
/// separate process would need a protocol to claim and settle deliveries, and a second writer of
/// the database, to gain nothing the manager's event loop needs (sending is asynchronous HTTP).
///
/// It reads due deliveries through the reader's connection, which sees only committed rows, so
/// nothing is sent for a change that rolled back. Each endpoint has a few deliveries in flight at
/// most, and they all together a bounded number, so a slow or dead endpoint only ever holds its
/// own. A delivery is the earliest pending event of its contact for its endpoint: events of a
/// contact arrive in order.
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

    private let store: Store
    private let reader: Reader
    private let settings: Settings
    private let logger: Logger
    private let metrics: ManagerMetrics
    private let client: HTTPClient
    private let session: URLSession
    private var inFlight: Set<Key> = []
    private var perEndpoint: [Int64: Int] = [:]
    private var nudged = false
    private var sleeper: CheckedContinuation<Void, Never>?

    private struct Key: Hashable {
        let webhook: Int64
        let event: Int64
    }

    init(store: Store, reader: Reader, settings: Settings, logger: Logger, metrics: ManagerMetrics) {
        self.store = store
        self.reader = reader
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        client = HTTPClient(timeout: settings.timeout)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        configuration.timeoutIntervalForResource = settings.timeout
        configuration.httpMaximumConnectionsPerHost = settings.perEndpoint
        session = URLSession(configuration: configuration)
    }

    /// New events were committed: look now rather than at the next poll.
    func nudge() {
        nudged = true
        sleeper?.resume()
        sleeper = nil
    }

    func run() async {
        while !Task.isCancelled {
            await sendDue()
            // Nudges that come while a look is under way, or just after, share the next one: a
            // busy outbox is read a few dozen times a second, not once per delivery.
            try? await Task.sleep(for: .milliseconds(10))
            if nudged {
                nudged = false
                continue
            }
            // Poll at least every half second (retries come due without a commit to nudge us).
            let wake = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(500))
                await self?.nudge()
            }
            await withCheckedContinuation { sleeper = $0 }
            wake.cancel()
            nudged = false
        }
    }

    private func sendDue() async {
        let full = perEndpoint.filter { $0.value >= settings.perEndpoint }.map(\.key)
        guard inFlight.count < settings.total,
              let due = try? await reader.read({ try $0.dueDeliveries(now: Timestamp.nowMilliseconds(), limit: 500, skipping: full) })
        else { return }
        for delivery in due where inFlight.count < settings.total {
            let key = Key(webhook: delivery.webhook, event: delivery.event)
            guard !inFlight.contains(key), perEndpoint[delivery.webhook, default: 0] < settings.perEndpoint else { continue }
            inFlight.insert(key)
            perEndpoint[delivery.webhook, default: 0] += 1
            Task { await self.deliver(delivery, key: key) }
        }
    }

    private func deliver(_ delivery: DueDelivery, key: Key) async {
        let result = await send(delivery)
        outcomes.append((delivery, key, result))
        guard !recording else { return }
        recording = true
        // Outcomes that come while one batch is being written go in the next: one write for many
        // deliveries. A delivery stays in flight until its outcome is written, so it is never
        // read as due (and sent) again meanwhile.
        while !outcomes.isEmpty {
            let batch = outcomes
            outcomes = []
            do {
                try await store.recordDeliveries(batch.map { ($0.delivery.webhook, $0.delivery.event, $0.result) })
            } catch {
                logger.error("webhook_deliveries_unrecorded", ["count": "\(batch.count)", "error": "\(error)"])
            }
            for (_, key, result) in batch {
                switch result {
                case .delivered: metrics.webhookDeliveries.increment(["outcome": "delivered"])
                case .notDelivered(_, _, _, let retryAt): metrics.webhookDeliveries.increment(["outcome": retryAt == nil ? "failed" : "retrying"])
                }
                inFlight.remove(key)
                perEndpoint[key.webhook, default: 1] -= 1
                if perEndpoint[key.webhook] == 0 { perEndpoint.removeValue(forKey: key.webhook) }
            }
        }
        recording = false
        nudge()
    }

    private var outcomes: [(delivery: DueDelivery, key: Key, result: Store.DeliveryResult)] = []
    private var recording = false

    /// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with a second `v1` by the
    /// previous secret while a rotation's day runs.
    static func signature(body: [UInt8], secrets: [String], at seconds: Int64) -> String {
        let signed = Array("\(seconds).".utf8) + body
        return (["t=\(seconds)"] + secrets.map { "v1=" + Hex.encode(HMACSHA256.authenticate(signed, key: Array($0.utf8))) })
            .joined(separator: ",")
    }

    private func send(_ delivery: DueDelivery) async -> Store.DeliveryResult {
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
    private func retry(_ delivery: DueDelivery, status: Int?, latency: Int, error: String) -> Store.DeliveryResult {
        let now = Timestamp.nowMilliseconds()
        let base = min(settings.firstRetry * pow(2, Double(min(delivery.attempts, 20))), 3_600_000)
        let retryAt = now + Int64(base * Double.random(in: 0.75...1.25))
        let expired = retryAt - delivery.eventCreatedAt > settings.retryFor
        return .notDelivered(status: status, latency: latency, error: error, retryAt: expired ? nil : retryAt)
    }
}
