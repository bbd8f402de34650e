import Foundation

/// Prometheus metrics (text exposition format 0.0.4): counters and histograms with labels, and
/// gauges rendered from values taken at scrape time (`gaugeText`).
///
/// One registry per process; recording takes a lock for a few nanoseconds, rendering walks it.
public final class MetricsRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var families: [String: Family] = [:]
    private var order: [String] = []

    final class Family {
        let name: String
        let help: String
        let type: String
        let buckets: [Double]
        var series: [String: Series] = [:]

        init(name: String, help: String, type: String, buckets: [Double]) {
            self.name = name
            self.help = help
            self.type = type
            self.buckets = buckets
        }
    }

    struct Series {
        var labels: String
        var value: Double = 0
        var counts: [UInt64] = []
        var sum: Double = 0
        var count: UInt64 = 0
    }

    public static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init() {}

    public func counter(_ name: String, help: String) -> Counter {
        register(name, help: help, type: "counter", buckets: [])
        return Counter(registry: self, name: name)
    }

    public func histogram(_ name: String, help: String, buckets: [Double] = latencyBuckets) -> Histogram {
        register(name, help: help, type: "histogram", buckets: buckets)
        return Histogram(registry: self, name: name)
    }

    private func register(_ name: String, help: String, type: String, buckets: [Double]) {
        lock.withLock {
            guard families[name] == nil else { return }
            families[name] = Family(name: name, help: help, type: type, buckets: buckets)
            order.append(name)
        }
    }

    func add(_ name: String, labels: KeyValuePairs<String, String>, value: Double) {
        let key = Self.labelText(labels)
        lock.withLock {
            guard let family = families[name] else { return }
            family.series[key, default: Series(labels: key)].value += value
        }
    }

    func observe(_ name: String, labels: KeyValuePairs<String, String>, value: Double) {
        let key = Self.labelText(labels)
        lock.withLock {
            guard let family = families[name] else { return }
            var series = family.series[key] ?? Series(labels: key, counts: Array(repeating: 0, count: family.buckets.count))
            for (index, bound) in family.buckets.enumerated() where value <= bound { series.counts[index] += 1 }
            series.sum += value
            series.count += 1
            family.series[key] = series
        }
    }

    /// Everything, in the text exposition format.
    public func render() -> String {
        let snapshot = lock.withLock { order.compactMap { families[$0] }.map { family in
            (family.name, family.help, family.type, family.buckets, family.series.values.sorted { $0.labels < $1.labels })
        } }
        var out = ""
        for (name, help, type, buckets, series) in snapshot {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for entry in series {
                if type == "histogram" {
                    for (index, bound) in buckets.enumerated() {
                        out += "\(name)_bucket\(Self.merge(entry.labels, "le=\"\(Self.number(bound))\"")) \(entry.counts[index])\n"
                    }
                    out += "\(name)_bucket\(Self.merge(entry.labels, "le=\"+Inf\"")) \(entry.count)\n"
                    out += "\(name)_sum\(Self.braced(entry.labels)) \(Self.number(entry.sum))\n"
                    out += "\(name)_count\(Self.braced(entry.labels)) \(entry.count)\n"
                } else {
                    out += "\(name)\(Self.braced(entry.labels)) \(Self.number(entry.value))\n"
                }
            }
        }
        return out
    }

    /// A gauge family from values taken just now (for state that lives behind an actor).
    public static func gaugeText(_ name: String, help: String, _ samples: [(labels: [String: String], value: Double)]) -> String {
        var out = "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
        for sample in samples { out += "\(name)\(braced(labelText(sample.labels))) \(number(sample.value))\n" }
        return out
    }

    static func labelText(_ labels: [String: String]) -> String {
        labelText(labels.sorted { $0.key < $1.key })
    }

    /// Labels in the order given, which saves sorting them on every request: recording sites
    /// name them in alphabetical order, as scrapes and `gaugeText` show them.
    static func labelText(_ labels: some Sequence<(key: String, value: String)>) -> String {
        var text = ""
        var previous = ""
        for (key, value) in labels {
            assert(previous < key, "metric labels must be named in alphabetical order")
            previous = key
            if !text.isEmpty { text += "," }
            text += key
            text += "=\""
            text += escape(value)
            text += "\""
        }
        return text
    }

    /// Label values as the text format wants them; most need no change, so they are only scanned.
    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static func braced(_ labels: String) -> String { labels.isEmpty ? "" : "{\(labels)}" }
    static func merge(_ labels: String, _ extra: String) -> String { labels.isEmpty ? "{\(extra)}" : "{\(labels),\(extra)}" }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

public struct Counter: Sendable {
    let registry: MetricsRegistry
    let name: String

    public func increment(_ labels: KeyValuePairs<String, String> = [:], by value: Double = 1) {
        registry.add(name, labels: labels, value: value)
    }
}

public struct Histogram: Sendable {
    let registry: MetricsRegistry
    let name: String

    public func observe(_ value: Double, _ labels: KeyValuePairs<String, String> = [:]) {
        registry.observe(name, labels: labels, value: value)
    }
}
