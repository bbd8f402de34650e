import Foundation
import JSON
import Testing

/// Where the built executables are: beside this test bundle, unless RYMI_BIN_DIR says otherwise.
let binDirectory: URL = {
    if let override = ProcessInfo.processInfo.environment["RYMI_BIN_DIR"] { return URL(fileURLWithPath: override) }
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return executable.deletingLastPathComponent()
}()

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A real executable of ours, started with its own environment, its JSON log lines collected.
final class ServiceProcess: @unchecked Sendable {
    let name: String
    let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()
    private var stderrText = ""
    /// The process's standard error reached its end: everything it wrote there is in `stderrText`.
    private var stderrEnded = false

    /// - Parameter namespace: run inside this network namespace (`ip netns exec`, which execs, so
    ///   the process id is the service's own).
    init(_ name: String, environment: [String: String], namespace: String? = nil) throws {
        self.name = name
        if let namespace {
            process.executableURL = URL(fileURLWithPath: NetworkLab.ip)
            process.arguments = ["netns", "exec", namespace, binDirectory.appendingPathComponent(name).path]
        } else {
            process.executableURL = binDirectory.appendingPathComponent(name)
        }
        var env = ProcessInfo.processInfo.environment
        // Every process of a test deployment shares the role secrets unless the test says otherwise.
        env["RYMI_GATEWAY_SECRET"] = Secrets.gateway
        env["RYMI_DIALER_SECRET"] = Secrets.dialer
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock {
                self.partial.append(data)
                while let newline = self.partial.firstIndex(of: 0x0A) {
                    self.lines.append(String(decoding: self.partial[self.partial.startIndex..<newline], as: UTF8.self))
                    self.partial.removeSubrange(self.partial.startIndex...newline)
                }
            }
        }
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            guard !data.isEmpty else {
                self.lock.withLock { self.stderrEnded = true }
                handle.readabilityHandler = nil
                return
            }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var logLines: [String] { lock.withLock { lines } }
    var standardError: String { lock.withLock { stderrText } }

    /// The first log event named `event` (as parsed JSON) that `matching` accepts, waiting up to
    /// `timeout` seconds.
    func waitForEvent(_ event: String, timeout: Double = 20, after skip: Int = 0,
                      matching: (JSONValue) -> Bool = { _ in true }) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        // The log is read once more after the deadline: a test woken late (a busy pool) must not
        // miss a line that came in time.
        while true {
            for line in logLines.dropFirst(skip) {
                if let value = try? JSONParser.parse(line), value["event"]?.stringValue == event, matching(value) { return value }
            }
            if let status = process.exitStatusIfEnded {
                throw TestFailure("\(name) exited (\(status)) before logging \(event): \(standardError)")
            }
            guard Date() < deadline else { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        throw TestFailure("\(name) did not log \(event) within \(timeout)s; log: \(logLines.suffix(5))")
    }

    /// The port from the process's main `listening` event (the gateway's admin listener logs one
    /// too, marked `"listener":"admin"`).
    func listeningPort() async throws -> Int {
        try await port(of: waitForEvent("listening") { $0["listener"] == nil })
    }

    /// The port of the gateway's operator-only listener (`RYMI_ADMIN_ADDR`).
    func adminPort() async throws -> Int {
        try await port(of: waitForEvent("listening") { $0["listener"]?.stringValue == "admin" })
    }

    private func port(of event: JSONValue) throws -> Int {
        guard let address = event["addr"]?.stringValue, let port = address.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw TestFailure("\(name) logged no address")
        }
        return port
    }

    /// The process's resident memory in KiB (`VmRSS` in /proc), or nil once it has gone.
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Waits for the process to exit, up to `timeout` seconds; returns its status or nil.
    func waitForExit(timeout: Double = 15) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status = process.exitStatusIfEnded
        while status == nil, Date() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
            status = process.exitStatusIfEnded
        }
        guard let status else { return nil }
        // What it wrote last may still be on its way from the pipe: wait for the pipe's end.
        while !lock.withLock({ stderrEnded }), Date() < deadline { try? await Task.sleep(nanoseconds: 5_000_000) }
        return status
    }

    func stop() {
        signal(SIGKILL)
        process.awaitExit(timeout: 10)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }
}

/// What a process that refused to start wrote on stderr: one JSON log line, whose `message` this
/// returns; anything else comes back as it is, so that a comparison shows it.
func configurationMessage(_ standardError: String) -> String {
    let lines = standardError.split(separator: "\n")
    guard lines.count == 1, let line = try? JSONParser.parse(String(lines[0])), line["level"] == .string("error"),
          let message = line["message"]?.stringValue else { return standardError }
    return message
}

func temporaryDirectory(_ label: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-\(label)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
