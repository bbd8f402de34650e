/// The arithmetic of the "go" gate: when the next call request may go to Plivo.
///
/// Two rules. Slots follow a cadence a hair above 1/CPS, so the average rate is the setting.
/// And a sliding window over the answers really given: the next one waits until the one `limit`
/// answers back is more than a second (plus a guard for network jitter) old. A late timer
/// wake-up is then caught up at once, yet no one-second window ever holds more than the limit.
public struct Pacer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public let interval: Duration
    public let limit: Int
    private var lastSlot: Instant?
    /// The latest `limit` answers given, oldest first.
    private var recentGoes: [Instant] = []

    public init?(callsPerSecond: Double) {
        guard callsPerSecond > 0 else { return nil }
        interval = .nanoseconds(Int64(1e9 * Pacing.cadenceMargin / callsPerSecond))
        // A fractional setting (2.5) allows 3 in a second: the cadence keeps the average.
        limit = max(1, Int(callsPerSecond.rounded(.up)))
    }

    /// Reserves the next slot of the cadence. After a lull it starts afresh at `now` rather than
    /// bursting to make up for calls that were never waiting.
    public mutating func reserveSlot(now: Instant) -> Instant {
        let next = (lastSlot ?? now.advanced(by: .zero - interval)).advanced(by: interval)
        let slot = next.duration(to: now) >= interval ? now : next
        lastSlot = slot
        return slot
    }

    /// The earliest instant another answer keeps every one-second window within the limit.
    public var windowOpens: Instant? {
        recentGoes.count < limit ? nil : recentGoes[0].advanced(by: .seconds(1) + Pacing.windowGuard)
    }

    public mutating func recordGo(at instant: Instant) {
        if recentGoes.count == limit { recentGoes.removeFirst() }
        recentGoes.append(instant)
    }

    /// An answer whose request never left (its dialer missed the slot and said so) no longer
    /// counts in the window.
    public mutating func forgetGo(at instant: Instant) {
        if let index = recentGoes.firstIndex(of: instant) { recentGoes.remove(at: index) }
    }
}

/// The pacing constants, one place for the gate and for those who size leases by it.
public enum Pacing {
    /// Slack on the cadence: 9 ms in every second. Wider than the window guard below, so in the
    /// steady state the window never binds and a late wake-up is not passed on to later calls.
    /// Costs 0.9% of the rate.
    public static let cadenceMargin = 1.009
    /// While catching up, how far apart (beyond a second) the first and last of `limit + 1`
    /// answers must be: room for a request to leave up to `sendWithin` after its answer, and
    /// 3 ms of transit jitter to Plivo on top (measured p99 0.4 ms, max 1.9 ms on this box).
    public static let windowGuard = Duration.milliseconds(8)
    /// How late after its go-ahead a request may still leave: a dialer that cannot send by then
    /// asks for a new slot. Within the window guard, so the window holds for the sends too.
    public static let sendWithin = Duration.milliseconds(5)
}

/// An instant of the dispatcher's clock: the time since the shell started it. The core reads no
/// clock; the shell translates whatever clock it was given into these.
public struct DispatchInstant: InstantProtocol, CustomStringConvertible {
    public var sinceOrigin: Duration

    public init(_ sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }

    public func advanced(by duration: Duration) -> DispatchInstant { DispatchInstant(sinceOrigin + duration) }
    public func duration(to other: DispatchInstant) -> Duration { other.sinceOrigin - sinceOrigin }
    public static func < (lhs: DispatchInstant, rhs: DispatchInstant) -> Bool { lhs.sinceOrigin < rhs.sinceOrigin }
    public var description: String { "\(sinceOrigin)" }
}
