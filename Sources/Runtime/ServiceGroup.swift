import Dispatch
import Foundation

/// A long-running part of a process.
public protocol Service: Sendable {
    /// Runs until the service stops by itself or `shutdown()` is called.
    func run() async throws
    /// Begins a graceful stop: stop taking new work, finish what is in flight.
    func shutdown() async
}

/// Runs services together and turns SIGTERM/SIGINT into a graceful shutdown of all of them.
public struct ServiceGroup: Sendable {
    let services: [any Service]
    let logger: Logger

    public init(services: [any Service], logger: Logger) {
        self.services = services
        self.logger = logger
    }

    /// Returns when every service has stopped; the process exit code follows from the result.
    public func run() async -> Int32 {
        ignoreBrokenPipes()
        let signals = SignalStream(signals: [SIGTERM, SIGINT])
        let services = self.services
        let logger = self.logger
        return await withTaskGroup(of: Int32?.self) { group in
            for service in services {
                group.addTask {
                    do {
                        try await service.run()
                        return 0
                    } catch {
                        logger.error("service_failed", ["error": "\(error)"])
                        return 1
                    }
                }
            }
            group.addTask {
                guard let signal = await signals.next() else { return nil }
                logger.info("shutdown_requested", ["signal": signal == SIGTERM ? "SIGTERM" : "SIGINT"])
                for service in services.reversed() { await service.shutdown() }
                return nil
            }
            var exitCode: Int32 = 0
            var running = services.count
            while running > 0, let result = await group.next() {
                guard let code = result else { continue }
                running -= 1
                exitCode = max(exitCode, code)
                if code != 0 {
                    // One part failed: stop the others so the process exits rather than limps.
                    for service in services.reversed() { await service.shutdown() }
                }
            }
            group.cancelAll()
            signals.finish()
            return exitCode
        }
    }
}

/// Raises the open-file limit to the hard limit: every connection is a descriptor.
public func raiseFileDescriptorLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// Writing to a peer that went away must be an error return, not a process kill.
public func ignoreBrokenPipes() {
    signal(SIGPIPE, SIG_IGN)
}

/// Delivers POSIX signals as an async sequence through Dispatch signal sources.
final class SignalStream: @unchecked Sendable {
    private let queue = DispatchQueue(label: "rymi.signals")
    private var sources: [any DispatchSourceSignal] = []
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
    }

    func next() async -> Int32? {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }

    func finish() {
        continuation.finish()
        queue.sync { sources.forEach { $0.cancel() } }
    }
}

/// Runs an executable's start-up: a configuration error becomes one JSON log line on stderr
/// (the variable, the problem, and the whole of it as one sentence) and exit 2.
public func runMain(_ name: String, _ body: () async throws -> Int32) async -> Never {
    let logger = Logger(service: name.hasPrefix("rymi-") ? String(name.dropFirst(5)) : name, sink: LogSink(fileDescriptor: 2))
    do {
        exit(try await body())
    } catch let error as ConfigurationError {
        logger.error("configuration_error", ["variable": error.variable, "problem": error.problem,
                                             "message": "\(name): configuration error: \(error)"])
        exit(2)
    } catch {
        logger.error("start_failed", ["message": "\(name): cannot start: \(error)"])
        exit(1)
    }
}
