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

/// Secrets a deployment with nothing set up makes for itself in `RYMI_SECRETS_DIR`.
@Suite struct GeneratedSecretsTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    @Test func processesStartingTogetherAgreeOnOneSecret() async throws {
        let environment = Environment(["RYMI_SECRETS_DIR": directory])
        // Many makers at once, each with its own value: every one reads back the same.
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<16 {
                group.addTask { try environment.stringOrGenerated("RYMI_GATEWAY_SECRET", make: { "made-by-\(index)" })!.value }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(values).count == 1 && values[0].hasPrefix("made-by-"))
        let file = directory + "/rymi_gateway_secret"
        #expect(try String(contentsOfFile: file, encoding: .utf8) == values[0] + "\n")
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
        // Nothing else is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["rymi_gateway_secret"])
        #expect(try environment.secret("RYMI_GATEWAY_SECRET") == Array(values[0].utf8))
    }

    @Test func aGivenSecretWinsAndNothingIsMadeWithoutTheDirectory() throws {
        let given = Environment(["RYMI_SECRETS_DIR": directory, "RYMI_DIALER_SECRET": "given-secret-0123456789abcdef"])
        #expect(try given.stringOrGenerated("RYMI_DIALER_SECRET", make: { "made" })! == ("given-secret-0123456789abcdef", false))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        #expect(try Environment([:]).stringOrGenerated("RYMI_DIALER_SECRET", make: { "made" }) == nil)
        #expect(throws: ConfigurationError.self) { try Environment([:]).secret("RYMI_DIALER_SECRET") }
        let made = try Environment(["RYMI_SECRETS_DIR": directory]).stringOrGenerated("RYMI_DIALER_SECRET", make: { "made" })
        #expect(made?.value == "made" && made?.generated == true)
    }

    @Test func anUnwritableDirectoryIsAConfigurationError() {
        #expect(throws: ConfigurationError.self) {
            try Environment(["RYMI_SECRETS_DIR": "/nonexistent/secrets"]).secret("RYMI_GATEWAY_SECRET")
        }
    }
}
