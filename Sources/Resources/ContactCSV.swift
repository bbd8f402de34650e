import Protocol
import Runtime

/// Contacts as CSV (RFC 4180): a header row, then one row per contact with its outcome; CRLF
/// line ends, fields quoted when they hold a comma, a quote or a line break.
public enum ContactCSV {
    public static let columns = [
        "id", "phone_number", "status", "attempt", "failure_reason", "failure_detail", "hangup_cause", "hangup_cause_code",
        "answered_by", "dialed_at", "answered_at", "ended_at", "duration_seconds", "bill_duration_seconds", "next_attempt_at",
        "request_uuid", "call_uuid", "timezone", "created_at", "variables",
    ]

    public static var header: [UInt8] { Array((columns.joined(separator: ",") + "\r\n").utf8) }

    /// The rows of `contacts`, ready to write.
    public static func rows(_ contacts: [ContactRecord]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(contacts.count * 200)
        for contact in contacts {
            let call = contact.call
            func time(_ value: Int64?) -> String { value.map { Timestamp.rfc3339(millisecondsSinceEpoch: $0) } ?? "" }
            let fields: [String] = [
                contact.id, contact.phoneNumber, contact.status.rawValue, String(contact.attemptsMade), call.failureReason ?? "",
                call.failureDetail ?? "", call.hangupCause ?? "", call.hangupCauseCode.map(String.init) ?? "", contact.answeredBy ?? "",
                time(call.dialedAt), time(call.answeredAt), time(call.endedAt), call.durationSeconds.map(String.init) ?? "",
                call.billDurationSeconds.map(String.init) ?? "", contact.status == .pending ? time(contact.nextAttemptAt) : "",
                call.requestUUID ?? "", call.callUUID ?? "", contact.timezone ?? "", time(contact.createdAt), contact.variables,
            ]
            for (index, field) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(field, to: &out)
            }
            out += [13, 10]
        }
        return out
    }

    static func append(_ field: String, to out: inout [UInt8]) {
        let bytes = field.utf8
        guard bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else {
            out += bytes
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }
}
