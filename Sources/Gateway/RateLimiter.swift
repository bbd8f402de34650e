import Foundation

/// Requests per second per account, as a token bucket: `rate` per second sustained, `burst` at once.
/// One tenant hammering the API gets 429s; the others do not notice.
final class RateLimiter: @unchecked Sendable {
    private let rate: Double
    private let burst: Double
    private let lock = NSLock()
    private var buckets: [String: (tokens: Double, refilled: Double)] = [:]

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// nil when allowed; otherwise the seconds until the next request would be.
    func admit(_ account: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
        lock.withLock {
            var bucket = buckets[account] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.refilled) * rate)
            bucket.refilled = now
            defer { buckets[account] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
            bucket.tokens -= 1
            return nil
        }
    }
}
