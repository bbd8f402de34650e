import Dialing
import HTTP1
import JSON
import Runtime
import Telephony

/// Reads a request body as a JSON object, answering every way it can be unreadable.
///
/// A body that parses as JSON is accepted whatever its Content-Type says: `curl -d` labels JSON
/// as a form, and the spec's own example relies on that.
func jsonObjectBody(_ request: HTTPRequest) throws(APIError) -> [(key: String, value: JSONValue)] {
    if let encoding = request.header("Content-Encoding"), encoding.lowercased() != "identity" {
        throw APIError(415, "unsupported_media_type", "Content-Encoding \(encoding) is not supported; send the body uncompressed")
    }
    guard !request.body.isEmpty else {
        throw APIError(400, "invalid_json", "the request body is empty; send a JSON object")
    }
    let value: JSONValue
    do {
        value = try JSONParser.parse(request.body)
    } catch {
        guard looksLikeJSONIntent(request.header("Content-Type")) else {
            throw APIError(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
        }
        throw APIError(400, "invalid_json", "the body is not valid JSON: \(error)")
    }
    guard let members = value.objectMembers else {
        throw APIError(400, "invalid_json", "the body must be a JSON object, not \(value.typeName == "array" ? "an" : "a") \(value.typeName)")
    }
    return members
}

/// Content types under which a client plausibly meant to send JSON.
private func looksLikeJSONIntent(_ contentType: String?) -> Bool {
    guard let contentType else { return true }
    let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: " ").lowercased() } ?? ""
    return mediaType.isEmpty || mediaType == "application/json" || mediaType.hasSuffix("+json")
        || mediaType == "application/x-www-form-urlencoded" || mediaType == "text/plain" || mediaType == "*/*"
}

extension RequestContext {
    /// For routes that take no query parameters: any is a mistake to report.
    func refuseQueryParameters() throws(APIError) {
        if let unknown = query.keys.sorted().first {
            throw APIError.invalid([FieldError(unknown, "is not a known query parameter (none are)")])
        }
    }
}

/// Typed access to a JSON object's members that records what is wrong instead of stopping.
struct ObjectReader {
    let members: [(key: String, value: JSONValue)]
    let index: Int?
    let prefix: String
    var errors: [FieldError] = []

    init(_ members: [(key: String, value: JSONValue)], index: Int? = nil, prefix: String = "") {
        self.members = members
        self.index = index
        self.prefix = prefix
    }

    func value(_ key: String) -> JSONValue? { members.first(where: { $0.key == key })?.value }

    mutating func fail(_ key: String, _ reason: String) {
        errors.append(FieldError(prefix + key, reason, index: index))
    }

    /// Every member must be one of `allowed`: a misspelt field is a mistake to report, not ignore.
    mutating func rejectUnknown(allowing allowed: Set<String>) {
        for member in members where !allowed.contains(member.key) {
            fail(member.key, "is not a known field (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// The member as a string: nil when absent (an error if required) or of another type (an error).
    /// An optional member may be `null`, which counts as absent.
    mutating func string(_ key: String, required: Bool) -> String? {
        guard let value = value(key), value != .null || required else {
            if required { fail(key, "is required") }
            return nil
        }
        guard let string = value.stringValue else {
            fail(key, "must be a string, not \(value.typeName)")
            return nil
        }
        return string
    }

    /// A string of 1...maxLength characters, not only whitespace; nil (and an error) otherwise.
    mutating func text(_ key: String, required: Bool, maxLength: Int) -> String? {
        guard let string = string(key, required: required) else { return nil }
        guard string.contains(where: { !$0.isWhitespace }) else {
            fail(key, "must not be empty")
            return nil
        }
        guard string.count <= maxLength else {
            fail(key, "must be at most \(maxLength) characters")
            return nil
        }
        guard !string.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            fail(key, "must not contain control characters")
            return nil
        }
        return string
    }

    /// An agent id: 1...128 of letters, digits and `_ - . : @`. It travels into Plivo XML as
    /// `extraHeaders="agent_id=…,campaign_id=…"`, where `,` or `=` would let a tenant add keys
    /// of its own (and quotes or `<` would leave the attribute), so only a closed set passes.
    mutating func agentID(_ key: String, required: Bool) -> String? {
        guard let string = string(key, required: required) else { return nil }
        guard !string.isEmpty else {
            fail(key, "must not be empty")
            return nil
        }
        guard string.utf8.count <= FieldLimits.agentIDLength else {
            fail(key, "must be at most \(FieldLimits.agentIDLength) characters")
            return nil
        }
        guard string.utf8.allSatisfy(FieldLimits.isAgentIDByte) else {
            fail(key, "may contain only letters, digits and _ - . : @")
            return nil
        }
        return string
    }

    /// The member as a canonical phone number, national numbers read in `defaultCountry`.
    mutating func phoneNumber(_ key: String, required: Bool, defaultCountry: String? = nil) -> String? {
        guard let string = string(key, required: required) else { return nil }
        switch PhoneNumber.canonical(string, defaultCountry: defaultCountry) {
        case .success(let number): return number
        case .failure(let invalid):
            fail(key, invalid.reason)
            return nil
        }
    }

    /// The member as an IANA time zone name the system knows (`America/New_York`).
    mutating func timezone(_ key: String) -> String? {
        guard let string = string(key, required: false) else { return nil }
        if let problem = FieldLimits.timezoneProblem(string) {
            fail(key, problem)
            return nil
        }
        return string
    }

    /// The member as a calling window object, `{"start":"09:00","end":"20:00","days":["mon",…]}`
    /// (`days` optional: every day), in its compact text form. A window reaching outside the
    /// TCPA's 08:00–21:00 is refused unless `allowBeyondTCPA` (a campaign for another country).
    mutating func callingWindow(_ key: String, allowBeyondTCPA: Bool) -> String? {
        guard let value = value(key), value != .null else { return nil }
        guard let members = value.objectMembers else {
            fail(key, "must be an object like {\"start\":\"09:00\",\"end\":\"20:00\",\"days\":[\"mon\",\"tue\"]}")
            return nil
        }
        var inner = ObjectReader(members, index: index, prefix: prefix + key + ".")
        inner.rejectUnknown(allowing: ["start", "end", "days"])
        let start = inner.string("start", required: true)
        let end = inner.string("end", required: true)
        var days: [String]?
        if let list = inner.value("days"), list != .null {
            if let items = list.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                days = items.compactMap(\.stringValue)
            } else {
                inner.fail("days", "must be an array of day names (mon, tue, wed, thu, fri, sat, sun)")
            }
        }
        errors += inner.errors
        guard inner.errors.isEmpty, let start, let end else { return nil }
        switch CallingWindow.parse(start: start, end: end, days: days) {
        case .failure(let invalid):
            fail(key + "." + invalid.field, invalid.reason)
            return nil
        case .success(let window):
            if !allowBeyondTCPA, window.start < CallingWindow.tcpa.start || window.end > CallingWindow.tcpa.end {
                fail(key, "\(CallingWindow.format(window.start))-\(CallingWindow.format(window.end)) reaches outside 08:00-21:00, "
                     + "the hours the TCPA allows for calls to +1 numbers in the callee's local time")
                return nil
            }
            return window.text
        }
    }

    /// The member as a retry policy, `{"busy":{"max_attempts":3,"delay_seconds":600},…}` (outcomes
    /// `busy`, `no_answer`, `voicemail`, `call_failed`), in its stored form; `{}` is no redial.
    /// Delays shorter than `minimumDelay` are refused (60 s, lowered only for tests).
    mutating func retryPolicy(_ key: String, minimumDelay: Int) -> String? {
        guard let value = value(key), value != .null else { return nil }
        let outcomes = RetryPolicy.Outcome.allCases.map(\.rawValue)
        guard let members = value.objectMembers else {
            fail(key, "must be an object like {\"busy\":{\"max_attempts\":3,\"delay_seconds\":600}} (outcomes: \(outcomes.joined(separator: ", ")))")
            return nil
        }
        var reader = ObjectReader(members, index: index, prefix: prefix + key + ".")
        reader.rejectUnknown(allowing: Set(outcomes))
        var rules: [RetryPolicy.Outcome: RetryPolicy.Rule] = [:]
        let delays = max(1, minimumDelay)...RetryPolicy.delayLimit.upperBound
        for outcome in RetryPolicy.Outcome.allCases {
            guard let rule = reader.value(outcome.rawValue) else { continue }
            guard let fields = rule.objectMembers else {
                reader.fail(outcome.rawValue, "must be an object with max_attempts and delay_seconds")
                continue
            }
            var inner = ObjectReader(fields, index: index, prefix: reader.prefix + outcome.rawValue + ".")
            inner.rejectUnknown(allowing: ["max_attempts", "delay_seconds"])
            let attempts = inner.integer("max_attempts", in: RetryPolicy.attemptLimit, meaning: "attempts in all, the first call included")
            let delay = inner.integer("delay_seconds", in: delays, meaning: "seconds")
            reader.errors += inner.errors
            if let attempts, let delay { rules[outcome] = RetryPolicy.Rule(maxAttempts: attempts, delaySeconds: delay) }
        }
        errors += reader.errors
        guard reader.errors.isEmpty else { return nil }
        return RetryPolicy(rules: rules).text
    }

    /// The member as an RFC 3339 date-time (`2026-12-01T09:00:00Z`, `…T09:00:00-05:00`), in ms
    /// since the epoch; `notBefore` refuses earlier ones.
    mutating func dateTime(_ key: String, notBefore: Int64? = nil) -> Int64? {
        guard let string = string(key, required: false) else { return nil }
        guard let milliseconds = Timestamp.parseRFC3339(string) else {
            fail(key, "must be an RFC 3339 date-time with its offset, such as 2026-12-01T09:00:00Z or 2026-12-01T09:00:00-05:00")
            return nil
        }
        if let notBefore, milliseconds <= notBefore {
            fail(key, "must be in the future")
            return nil
        }
        return milliseconds
    }

    /// A required whole number within `range`.
    mutating func integer(_ key: String, in range: ClosedRange<Int>, meaning: String) -> Int? {
        guard let value = value(key) else {
            fail(key, "is required")
            return nil
        }
        guard let number = value.intValue, range.contains(number) else {
            fail(key, "must be a whole number of \(meaning) from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    /// The member as an ISO 3166-1 alpha-2 country code we have a numbering plan for, upper-cased.
    mutating func country(_ key: String) -> String? {
        guard let string = string(key, required: false) else { return nil }
        guard string.utf8.count == 2, NumberingPlan.forRegion(string) != nil else {
            fail(key, "must be an ISO 3166-1 alpha-2 country code, such as US or GB")
            return nil
        }
        return string.uppercased()
    }
}

/// Bounds on what a campaign's fields and a contact's variables may hold.
enum FieldLimits {
    static let nameLength = 200
    static let agentIDLength = 128

    /// ASCII letters, digits and `_ - . : @`.
    static func isAgentIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "@"): return true
        default: return false
        }
    }
    static let variablesBytes = 4096

    /// Why `name` is not an IANA time zone the system knows (`America/New_York`), if it is not.
    static func timezoneProblem(_ name: String) -> String? {
        guard name.utf8.count <= 64, TimeZones.isKnown(name), name.contains("/") || name == "UTC" else {
            return "must be an IANA time zone, such as America/New_York"
        }
        return nil
    }
    /// Errors listed in one 422; the count of all of them is given too.
    static let reportedErrors = 100
}
