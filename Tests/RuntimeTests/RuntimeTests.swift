import Foundation
import Runtime
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(1_795_962_707_123), "2026-11-29T14:31:47.123Z"),
        (Int64(951_782_400_000), "2000-02-29T00:00:00.000Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
        (Int64(253_402_300_799_999), "9999-12-31T23:59:59.999Z"),
    ])
    func formatsRFC3339(milliseconds: Int64, text: String) {
        #expect(Timestamp.rfc3339(millisecondsSinceEpoch: milliseconds) == text)
        #expect(Timestamp.parseRFC3339(text) == milliseconds)
    }

    /// RFC 3339's own examples (section 5.8), checked against Foundation's reading of them.
    @Test func readsRFC3339sExamples() {
        #expect(Timestamp.parseRFC3339("1985-04-12T23:20:50.52Z") == 482_196_050_520)
        #expect(Timestamp.parseRFC3339("1996-12-19T16:39:57-08:00") == 851_042_397_000)
        #expect(Timestamp.parseRFC3339("1990-12-31T23:59:60Z") == 662_687_999_999)
        #expect(Timestamp.parseRFC3339("1990-12-31T15:59:60-08:00") == 662_687_999_999)
        #expect(Timestamp.parseRFC3339("1937-01-01T12:00:27.87+00:20") == -1_041_337_172_130)
        #expect(Timestamp.parseRFC3339("2026-12-01t09:30:00.123456z") == Timestamp.parseRFC3339("2026-12-01T09:30:00.123Z"))
        let foundation = ISO8601DateFormatter().date(from: "1996-12-19T16:39:57-08:00")!.timeIntervalSince1970
        #expect(Double(Timestamp.parseRFC3339("1996-12-19T16:39:57-08:00")!) == foundation * 1000)
    }

    @Test(arguments: ["", "2026-12-01", "2026-12-01T09:30:00", "2026-13-01T09:30:00Z", "2026-02-29T09:30:00Z", "2026-12-01T24:00:00Z",
                      "2026-12-01T09:30:00+5:30", "2026-12-01T09:30:00.Z", "2026-12-01T09:30:00Zjunk", "２０２６-12-01T09:30:00Z",
                      "2026-12-01T09:30:00+24:00", "1764581400"])
    func refusesWhatIsNotRFC3339(text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }
}

@Suite struct MetricsTests {
    @Test func rendersCountersAndHistogramsWithEscapedLabels() {
        let registry = MetricsRegistry()
        let counter = registry.counter("c_total", help: "A counter.")
        counter.increment(["route": #"/a"b\"#])
        counter.increment(["route": #"/a"b\"#], by: 2)
        registry.histogram("h_seconds", help: "A histogram.", buckets: [0.1, 1]).observe(0.5)
        let text = registry.render()
        #expect(text.contains(#"c_total{route="/a\"b\\"} 3"#))
        #expect(text.contains(#"h_seconds_bucket{le="0.1"} 0"#))
        #expect(text.contains(#"h_seconds_bucket{le="1"} 1"#))
        #expect(text.contains("h_seconds_count 1"))
    }
}

struct BackgroundTasksTests {
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }

    @Test func cancellingStopsEveryLoopAndRefusesNewOnes() async throws {
        let tasks = BackgroundTasks()
        let stopped = Flag()
        tasks.start {
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            stopped.set()
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(!stopped.isSet)
        tasks.cancelAll()
        for _ in 0..<200 where !stopped.isSet { try await Task.sleep(for: .milliseconds(5)) }
        #expect(stopped.isSet)
        let late = Flag()
        tasks.start { if Task.isCancelled { late.set() } }
        for _ in 0..<200 where !late.isSet { try await Task.sleep(for: .milliseconds(5)) }
        #expect(late.isSet, "a loop started after cancelAll is cancelled at once")
    }
}
