import Foundation

/// When a callee may be called: daily hours and weekdays in the callee's local time.
///
/// Pure functions of a date and a zone: the caller passes the time, so tests run on a virtual
/// clock, and the system's tz database (Foundation's `TimeZone`) supplies offsets and DST.
public struct CallingWindow: Sendable, Equatable {
    public enum Weekday: String, Sendable, CaseIterable, Comparable {
        case mon, tue, wed, thu, fri, sat, sun

        /// Foundation's weekday number (1 = Sunday).
        init?(gregorian: Int) {
            let order: [Weekday] = [.sun, .mon, .tue, .wed, .thu, .fri, .sat]
            guard (1...7).contains(gregorian) else { return nil }
            self = order[gregorian - 1]
        }

        public static func < (lhs: Weekday, rhs: Weekday) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// Minutes after local midnight: calls from `start`, until (not at) `end`.
    public let start: Int
    public let end: Int
    public let days: Set<Weekday>

    public init(start: Int, end: Int, days: Set<Weekday> = Set(Weekday.allCases)) {
        self.start = start
        self.end = end
        self.days = days
    }

    /// What the TCPA allows in the callee's local time: 08:00 to 21:00, every day.
    public static let tcpa = CallingWindow(start: 8 * 60, end: 21 * 60)

    public struct Invalid: Error, Sendable, Equatable {
        public let field: String
        public let reason: String
    }

    /// Reads `{"start":"09:00","end":"20:00","days":["mon",…]}`'s parts; `days` nil means every day.
    public static func parse(start: String, end: String, days: [String]?) -> Result<CallingWindow, Invalid> {
        guard let from = minutes(start) else { return .failure(Invalid(field: "start", reason: "must be a time HH:MM, 00:00 to 23:59")) }
        guard let until = minutes(end, allowMidnightEnd: true) else {
            return .failure(Invalid(field: "end", reason: "must be a time HH:MM, 00:01 to 24:00"))
        }
        guard from < until else { return .failure(Invalid(field: "end", reason: "must be after start (windows do not cross midnight)")) }
        var weekdays = Set(Weekday.allCases)
        if let days {
            weekdays = []
            for day in days {
                guard let weekday = Weekday(rawValue: day.lowercased()) else {
                    return .failure(Invalid(field: "days", reason: "'\(day)' is not one of mon, tue, wed, thu, fri, sat, sun"))
                }
                weekdays.insert(weekday)
            }
            guard !weekdays.isEmpty else { return .failure(Invalid(field: "days", reason: "must name at least one day")) }
        }
        return .success(CallingWindow(start: from, end: until, days: weekdays))
    }

    static func minutes(_ text: String, allowMidnightEnd: Bool = false) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let hours = Int(parts[0]), let minutes = Int(parts[1]), (0...59).contains(minutes) else { return nil }
        if allowMidnightEnd, hours == 24, minutes == 0 { return 24 * 60 }
        guard (0...23).contains(hours) else { return nil }
        return hours * 60 + minutes
    }

    /// The compact form stored and configured: `09:00-20:00` (every day) or
    /// `09:00-20:00 mon,tue,wed,thu,fri`.
    public var text: String {
        let range = Self.format(start) + "-" + Self.format(end)
        return days.count == 7 ? range : range + " " + days.sorted().map(\.rawValue).joined(separator: ",")
    }

    public static func parse(text: String) -> Result<CallingWindow, Invalid> {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        let range = parts.first.map { $0.split(separator: "-") } ?? []
        guard range.count == 2 else { return .failure(Invalid(field: "calling_window", reason: "must be HH:MM-HH:MM, then optionally days (mon,tue,…)")) }
        let days = parts.count == 2 ? parts[1].split(separator: ",").map { String($0) } : nil
        return parse(start: String(range[0]), end: String(range[1]), days: days)
    }

    /// `"HH:MM"` of a minute of the day.
    public static func format(_ minutes: Int) -> String {
        let hours = minutes / 60, rest = minutes % 60
        return (hours < 10 ? "0" : "") + String(hours) + (rest < 10 ? ":0" : ":") + String(rest)
    }

    /// Whether this window reaches outside `other` on any day (a campaign asking more of a +1
    /// number than the TCPA allows).
    public func exceeds(_ other: CallingWindow) -> Bool {
        start < other.start || end > other.end || !days.isSubset(of: other.days)
    }

    /// The window that satisfies both.
    public func intersection(_ other: CallingWindow) -> CallingWindow {
        CallingWindow(start: max(start, other.start), end: min(end, other.end), days: days.intersection(other.days))
    }

    /// Whether a call may be placed at `date` to someone in `zone`.
    public func isOpen(at date: Date, in zone: TimeZone) -> Bool {
        let calendar = Self.calendar(zone)
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        guard let weekday = parts.weekday.flatMap(Weekday.init(gregorian:)), days.contains(weekday) else { return false }
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return minute >= start && minute < end
    }

    /// The first moment at or after `date` when the window is open in `zone`: `date` itself when it
    /// is open now; nil when the window opens on no day (or is empty).
    public func nextOpening(atOrAfter date: Date, in zone: TimeZone) -> Date? {
        guard !days.isEmpty, start < end else { return nil }
        if isOpen(at: date, in: zone) { return date }
        let calendar = Self.calendar(zone)
        let today = calendar.startOfDay(for: date)
        for offset in 0...7 {
            guard let day = calendar.date(byAdding: .day, value: offset, to: today),
                  let weekday = Weekday(gregorian: calendar.component(.weekday, from: day)), days.contains(weekday),
                  // On a day whose local clock skips the start (spring forward), the next valid time.
                  let opening = calendar.date(bySettingHour: start / 60, minute: start % 60, second: 0, of: day, matchingPolicy: .nextTime),
                  opening >= date, isOpen(at: opening, in: zone) else { continue }
            return opening
        }
        return nil
    }

    static func calendar(_ zone: TimeZone) -> Calendar { ZoneCache.shared.calendar(zone) }
}
