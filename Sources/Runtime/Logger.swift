import Foundation
import JSON

/// Structured logs: one JSON object per line on stdout.
///
/// Metadata is data, not interpolated text, so operators can filter on it; values that could be
/// secrets are never passed in.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error

        public var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warning"
            case .error: return "error"
            }
        }

        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = level
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let service: String
    public let minimumLevel: Level
    private let sink: LogSink

    public init(service: String, minimumLevel: Level = .info, sink: LogSink = .standardOutput) {
        self.service = service
        self.minimumLevel = minimumLevel
        self.sink = sink
    }

    public func log(_ level: Level, _ event: String, _ metadata: KeyValuePairs<String, String> = [:]) {
        guard level >= minimumLevel else { return }
        write(level, event, metadata)
    }

    /// Logged whatever the level: facts operators and scripts rely on, such as the bound address.
    public func announce(_ event: String, _ metadata: KeyValuePairs<String, String> = [:]) {
        write(.info, event, metadata)
    }

    private func write(_ level: Level, _ event: String, _ metadata: KeyValuePairs<String, String>) {
        var members: [(key: String, value: JSONValue)] = [
            ("ts", .string(Timestamp.rfc3339(millisecondsSinceEpoch: Timestamp.nowMilliseconds()))),
            ("level", .string(level.name)),
            ("service", .string(service)),
            ("event", .string(event)),
        ]
        for (key, value) in metadata { members.append((key, .string(value))) }
        sink.write(JSONValue.object(members).serialized() + [0x0A])
    }

    public func debug(_ event: String, _ metadata: KeyValuePairs<String, String> = [:]) { log(.debug, event, metadata) }
    public func info(_ event: String, _ metadata: KeyValuePairs<String, String> = [:]) { log(.info, event, metadata) }
    public func warning(_ event: String, _ metadata: KeyValuePairs<String, String> = [:]) { log(.warning, event, metadata) }
    public func error(_ event: String, _ metadata: KeyValuePairs<String, String> = [:]) { log(.error, event, metadata) }
}

/// Where log lines go; writes are serialised so lines never interleave.
public final class LogSink: Sendable {
    public static let standardOutput = LogSink(fileDescriptor: 1)

    private let fileDescriptor: Int32
    private let lock = NSLock()

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    func write(_ bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
