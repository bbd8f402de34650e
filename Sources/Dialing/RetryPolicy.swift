import Protocol

/// Which failed outcomes a campaign calls again, how many times in all and how long after: the
/// campaign's `retry_policy`. No rule for an outcome (the default) means no redial.
public struct RetryPolicy: Sendable, Equatable {
    /// The outcomes a policy can name.
    public enum Outcome: String, Sendable, CaseIterable {
        case busy
        case noAnswer = "no_answer"
        case voicemail
        case callFailed = "call_failed"

        /// The outcome a failure reason counts as, if a policy can name it. Plivo's `timeout`
        /// (the ring timeout ran out) is no answer; refusals, cancels and unknown outcomes are not
        /// redialed.
        public init?(_ reason: FailureReason) {
            switch reason {
            case .busy: self = .busy
            case .noAnswer, .timeout: self = .noAnswer
            case .voicemail: self = .voicemail
            case .callFailed: self = .callFailed
            case .canceled, .plivoRejected, .outcomeUnknown, .invalidNumber: return nil
            }
        }
    }

    public struct Rule: Sendable, Equatable {
        /// Every attempt, the first included: 3 is the first call and at most two redials.
        public var maxAttempts: Int
        /// The least time from one attempt's end to the next; a calling window may push it later.
        public var delaySeconds: Int

        public init(maxAttempts: Int, delaySeconds: Int) {
            self.maxAttempts = maxAttempts
            self.delaySeconds = delaySeconds
        }
    }

    public static let attemptLimit = 1...10
    /// From a minute to a week.
    public static let delayLimit = 60...604_800

    public private(set) var rules: [Outcome: Rule]

    public init(rules: [Outcome: Rule] = [:]) {
        self.rules = rules
    }

    public static let none = RetryPolicy()

    /// Seconds to wait before calling again a contact whose `attemptsMade`th attempt failed for
    /// `reason`; nil when it is not called again.
    public func redialDelay(after reason: FailureReason, attemptsMade: Int) -> Int? {
        guard let outcome = Outcome(reason), let rule = rules[outcome], attemptsMade < rule.maxAttempts else { return nil }
        return rule.delaySeconds
    }

    /// The stored form, `busy=3/600,no_answer=2/300`, in the order of `Outcome.allCases`; empty
    /// for no redial.
    public var text: String {
        Outcome.allCases.compactMap { outcome in rules[outcome].map { "\(outcome.rawValue)=\($0.maxAttempts)/\($0.delaySeconds)" } }
            .joined(separator: ",")
    }

    /// Reads the stored form; nil if it is not one.
    public init?(text: String) {
        var rules: [Outcome: Rule] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=")
            guard parts.count == 2, let outcome = Outcome(rawValue: String(parts[0])) else { return nil }
            let numbers = parts[1].split(separator: "/").compactMap { Int($0) }
            guard numbers.count == 2 else { return nil }
            rules[outcome] = Rule(maxAttempts: numbers[0], delaySeconds: numbers[1])
        }
        self.init(rules: rules)
    }
}
