import Dialing
import JSON
import Protocol
import Telephony
import Runtime

/// How records look to API users (and to webhook receivers, whose events carry the same
/// resources): snake_case fields, RFC 3339 times.
public enum Render {
    public static func time(_ milliseconds: Int64) -> JSONValue { .string(Timestamp.rfc3339(millisecondsSinceEpoch: milliseconds)) }

    /// `"09:00-20:00 mon,tue"` as `{"start":"09:00","end":"20:00","days":["mon","tue"]}`.
    public static func callingWindow(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        // The stored form is always `HH:MM-HH:MM` and, unless every day, ` mon,tue,…` (sorted):
        // sliced rather than parsed, on every campaign read.
        let utf8 = Array(text.utf8)
        guard utf8.count >= 11, utf8[5] == UInt8(ascii: "-") else { return .null }
        let days: [JSONValue] = utf8.count > 12
            ? String(decoding: utf8[12...], as: UTF8.self).split(separator: ",").map { .string(String($0)) }
            : allDays
        return .object([
            ("start", .string(String(decoding: utf8[0..<5], as: UTF8.self))), ("end", .string(String(decoding: utf8[6..<11], as: UTF8.self))),
            ("days", .array(days)),
        ])
    }

    private static let allDays: [JSONValue] = CallingWindow.Weekday.allCases.map { .string($0.rawValue) }

    public static func campaign(_ record: CampaignRecord) -> JSONValue {
        let counts = record.counts
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func optionalTime(_ value: Int64?) -> JSONValue { value.map(time) ?? .null }
        let contactCounts = self.contactCounts(counts) + [("waiting_window", .int(record.waitingWindow))]
        let members: [(key: String, value: JSONValue)] = [
            ("id", .string(record.id)),
            ("name", .string(record.name)),
            ("agent_id", .string(record.agentID)),
            ("call_from_number", optional(record.callFromNumber)),
            ("default_country", optional(record.defaultCountry)),
            ("calling_window", callingWindow(record.callingWindow)),
            ("timezone", optional(record.timezone)),
            ("retry_policy", retryPolicy(record.retryPolicy)),
            ("start_at", optionalTime(record.startAt)),
            ("end_at", optionalTime(record.endAt)),
            ("max_concurrent_calls", record.maxConcurrentCalls.map(JSONValue.int) ?? .null),
            ("calls_per_second", record.callsPerSecond.map(JSONValue.double) ?? .null),
            ("machine_detection", .string(record.machineDetection)),
            ("machine_detection_time", record.machineDetectionTime.map(JSONValue.int) ?? .null),
            ("status", .string(record.status.rawValue)),
            ("created_at", time(record.createdAt)),
            ("updated_at", time(record.updatedAt)),
            ("contact_counts", .object(contactCounts)),
            ("next_window_opens_at", optionalTime(record.nextWindowOpensAt)),
            ("paused_reason", optional(record.pausedReason)),
        ]
        return .object(members)
    }

    /// A contact; with `attempts` (a single contact's read), every attempt to call it with why it
    /// was allowed and how it ended.
    public static func contact(_ record: ContactRecord, attempts: Bool) -> JSONValue {
        let call = record.call
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func optional(_ value: Int?) -> JSONValue { value.map(JSONValue.int) ?? .null }
        func optionalTime(_ value: Int64?) -> JSONValue { value.map(time) ?? .null }
        return .object([
            ("id", .string(record.id)),
            ("campaign_id", .string(record.campaignID)),
            ("phone_number", .string(record.phoneNumber)),
            // Validated as a JSON object and stored in our own serialization at upload.
            ("variables", .verbatim(record.variables)),
            ("status", .string(record.status.rawValue)),
            ("timezone", optional(record.timezone)),
            // While a pending contact waits for its calling window: when it opens.
            ("window_opens_at", record.status == .pending
                ? optionalTime(record.windowOpensAt.flatMap { $0 > Timestamp.nowMilliseconds() ? $0 : nil }) : .null),
            // Attempts that reached Plivo so far, and while it waits for a redial, when it may come.
            ("attempt", .int(record.attemptsMade)),
            ("answered_by", optional(record.answeredBy)),
            ("next_attempt_at", record.status == .pending ? optionalTime(record.nextAttemptAt) : .null),
            ("created_at", time(record.createdAt)),
            ("updated_at", time(record.updatedAt)),
            ("failure_reason", optional(call.failureReason)),
            ("failure_detail", optional(call.failureDetail)),
            ("hangup_cause", optional(call.hangupCause)),
            ("hangup_cause_code", optional(call.hangupCauseCode)),
            ("request_uuid", optional(call.requestUUID)),
            ("call_uuid", optional(call.callUUID)),
            ("dialed_at", optionalTime(call.dialedAt)),
            ("answered_at", optionalTime(call.answeredAt)),
            ("ended_at", optionalTime(call.endedAt)),
            ("duration_seconds", optional(call.durationSeconds)),
            ("bill_duration_seconds", optional(call.billDurationSeconds)),
        ] + (attempts ? [(key: "attempts", value: JSONValue.array(record.attempts.enumerated().map { attempt($1, number: $0 + 1, of: record) }))] : []))
    }

    /// An attempt as the API shows it: `attempt` is its number in the contact's list (1, 2, …);
    /// `attempt_id` the dispatcher's id for it (what Plivo's callbacks carry as `attempt`).
    public static func attempt(_ attempt: AttemptRecord, number: Int, of record: ContactRecord) -> JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let latest = attempt.attempt == record.attempts.last?.attempt
        let decision: JSONValue = .object([
            ("dnc_checked", .bool(true)),
            ("dnc_list_version", .int64(attempt.dncVersion)),
            ("dnc_list_entries", .int64(attempt.dncEntries)),
            ("local_time", text(attempt.localTime)),
            ("timezone", text(attempt.timezone)),
            ("timezone_source", text(attempt.timezoneSource)),
            ("calling_window", callingWindow(attempt.callingWindow)),
        ])
        let endedAt: JSONValue = attempt.endedAt.map(time) ?? .null
        return .object([
            ("attempt", .int(number)),
            ("attempt_id", .string(String(attempt.attempt))),
            ("begun_at", time(attempt.begunAt)),
            ("decision", decision),
            ("outcome", text(attempt.outcome)),
            ("failure_reason", text(attempt.failureReason)),
            ("ended_at", endedAt),
            // Attempts recorded before their own ids were kept have the contact's, for the latest.
            ("request_uuid", text(attempt.requestUUID ?? (latest ? record.call.requestUUID : nil))),
            ("call_uuid", text(attempt.callUUID ?? (latest ? record.call.callUUID : nil))),
            ("answered_at", attempt.answeredAt.map(time) ?? .null),
            ("hangup_cause", text(attempt.hangupCause)),
            ("hangup_cause_code", attempt.hangupCauseCode.map(JSONValue.int) ?? .null),
            ("duration_seconds", attempt.durationSeconds.map(JSONValue.int) ?? .null),
            ("answered_by", text(attempt.answeredBy)),
        ])
    }

    /// `GET /v1/campaigns/:id/stats`. Rates are fractions (0–1, 4 decimals; null before any
    /// call): answered of the calls placed, and machines of those answered.
    public static func stats(_ stats: CampaignStats, campaignID: String) -> JSONValue {
        func rate(_ part: Int, _ whole: Int) -> JSONValue {
            whole == 0 ? .null : .number(String(format: "%.4f", Double(part) / Double(whole)))
        }
        let talkTime: [(key: String, value: JSONValue)] = [
            ("calls", .int(stats.talkedCalls)), ("total_seconds", .int(stats.talkSeconds)),
            ("p50_seconds", stats.talkP50.map(JSONValue.int) ?? .null), ("p90_seconds", stats.talkP90.map(JSONValue.int) ?? .null),
        ]
        let members: [(key: String, value: JSONValue)] = [
            ("campaign_id", .string(campaignID)),
            ("contact_counts", .object(contactCounts(stats.counts))),
            ("failure_reasons", .object(stats.failureReasons.map { ($0.reason, .int($0.contacts)) })),
            ("attempts", .int(stats.attempts)),
            ("answered", .int(stats.answered)),
            ("answer_rate", rate(stats.answered, stats.attempts)),
            ("voicemail", .int(stats.voicemail)),
            ("voicemail_rate", rate(stats.voicemail, stats.answered)),
            ("talk_time", .object(talkTime)),
            ("billed_seconds", .int(stats.billedSeconds)),
            ("calls_per_minute", .array(stats.callsPerMinute.map { .object([("minute", time($0.minute)), ("calls", .int($0.calls))]) })),
        ]
        return .object(members)
    }

    /// A campaign's contacts by status, with their total.
    static func contactCounts(_ counts: ContactCounts) -> [(key: String, value: JSONValue)] {
        [
            ("total", .int(counts.total)), ("pending", .int(counts.pending)), ("dialed", .int(counts.dialed)),
            ("completed", .int(counts.completed)), ("failed", .int(counts.failed)), ("skipped_dnc", .int(counts.skippedDNC)),
            ("canceled", .int(counts.canceled)), ("expired", .int(counts.expired)),
        ]
    }

    /// `{"busy":{"max_attempts":3,"delay_seconds":600},…}` from the stored form; null for no redial.
    public static func retryPolicy(_ text: String) -> JSONValue {
        guard let policy = RetryPolicy(text: text), !policy.rules.isEmpty else { return .null }
        return .object(RetryPolicy.Outcome.allCases.compactMap { outcome in
            policy.rules[outcome].map { rule in
                (outcome.rawValue, .object([("max_attempts", .int(rule.maxAttempts)), ("delay_seconds", .int(rule.delaySeconds))]))
            }
        })
    }
}
