import Dispatch
import Foundation
import Runtime
import Transport

public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse
/// Answers what it can at once, on the connection's own queue (no task, no hop); nil passes the
/// request on to the async handler. For cheap answers that need no other process.
public typealias HTTPImmediateHandler = @Sendable (HTTPRequest) -> HTTPResponse?

/// Timeouts and limits of the HTTP server; defaults suit a public API.
public struct HTTPServerConfiguration: Sendable {
    public var limits = HTTPLimits()
    /// From a request's first byte until its whole head has arrived: slowloris ends here.
    public var headTimeout: Double = 10
    /// Longest pause between two reads of a body.
    public var bodyTimeout: Double = 30
    /// How long a keep-alive connection may sit between requests.
    public var idleTimeout: Double = 75
    public var maxConnections = 20_000
    /// How long shutdown waits for in-flight requests.
    public var drainTimeout: Double = 10

    public init() {}
}

/// An HTTP/1.1 server on non-blocking sockets: keep-alive, pipelining, 100-continue, chunked bodies.
public final class HTTPServer: Service, @unchecked Sendable {
    public let localAddress: HostPort
    private let listener: TCPListener
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let immediate: HTTPImmediateHandler?
    private let logger: Logger
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var draining = false
    private let stopped = AsyncStream<Void>.makeStream()

    public init(address: HostPort, configuration: HTTPServerConfiguration = HTTPServerConfiguration(), logger: Logger,
                immediate: HTTPImmediateHandler? = nil, handler: @escaping HTTPHandler) throws {
        self.immediate = immediate
        listener = try TCPListener(address: address)
        localAddress = listener.localAddress
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
    }

    public var connectionCount: Int { lock.withLock { connections.count } }

    public func run() async throws {
        listener.start { [self] fd in accept(fd) }
        for await _ in stopped.stream { break }
    }

    private func accept(_ fd: Int32) {
        let stream = StreamConnection(fd: fd)
        let connection = HTTPConnection(stream: stream, configuration: configuration, immediate: immediate, handler: handler) { [weak self] connection in
            self?.forget(connection)
        }
        let admitted = lock.withLock { () -> Bool in
            guard !draining, connections.count < configuration.maxConnections else { return false }
            connections[ObjectIdentifier(connection)] = connection
            return true
        }
        if admitted {
            connection.start()
        } else {
            close(fd)
        }
    }

    private func forget(_ connection: HTTPConnection) {
        lock.withLock { _ = connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// Stops accepting, lets in-flight requests finish, then closes what is left.
    public func shutdown() async {
        let open = lock.withLock { () -> [HTTPConnection] in
            draining = true
            return Array(connections.values)
        }
        listener.stop()
        open.forEach { $0.drain() }
        let deadline = Date().addingTimeInterval(configuration.drainTimeout)
        while connectionCount > 0, Date() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        lock.withLock { Array(connections.values) }.forEach { $0.forceClose() }
        logger.info("http_stopped", ["addr": localAddress.description])
        stopped.continuation.finish()
    }
}

/// One client connection: parses requests in order and answers each before reading the next.
final class HTTPConnection: @unchecked Sendable {
    static let loopBodyLimit = 64 * 1024
    private let stream: StreamConnection
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let immediate: HTTPImmediateHandler?
    private let onClose: (HTTPConnection) -> Void
    private var parser: HTTPRequestParser
    private var busy = false
    private var draining = false
    private var headDeadlineArmed = false

    init(stream: StreamConnection, configuration: HTTPServerConfiguration, immediate: HTTPImmediateHandler?, handler: @escaping HTTPHandler,
         onClose: @escaping (HTTPConnection) -> Void) {
        self.immediate = immediate
        self.stream = stream
        self.configuration = configuration
        self.handler = handler
        self.onClose = onClose
        self.parser = HTTPRequestParser(limits: configuration.limits)
    }

    func start() {
        stream.start(StreamConnection.Handlers(
            onRead: { [self] bytes in received(bytes) },
            onClose: { [self] _ in onClose(self) },
            onTimeout: { [self] in timedOut() }
        ))
        stream.loop.execute { [self] in updateDeadline() }
    }

    func drain() {
        stream.loop.execute { [self] in
            draining = true
            if !busy, !parser.isMidRequest { stream.close() }
        }
    }

    func forceClose() {
        stream.loop.execute { [self] in stream.close() }
    }

    private func received(_ bytes: [UInt8]) {
        parser.append(bytes)
        if busy {
            // Pipelined requests wait their turn; stop reading once a full head's worth is queued.
            if parser.bufferedBytes > configuration.limits.maxHeaderBytes { stream.pauseReading() }
            return
        }
        process()
    }

    private func process() {
        while !busy, !stream.isClosed {
            let event: HTTPRequestParser.Event
            do {
                event = try parser.next()
            } catch {
                fail(status: error.status, code: error.code, message: error.message)
                return
            }
            switch event {
            case .needMore:
                updateDeadline()
                return
            case .sendContinue:
                stream.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            case .request(let request):
                dispatch(request)
            }
        }
    }

    private func dispatch(_ parsed: HTTPRequest) {
        var received = parsed
        received.receivedAt = Date().timeIntervalSince1970
        let request = received
        busy = true
        headDeadlineArmed = false
        stream.setDeadline(nil)
        if let response = immediate?(request) {
            complete(request, response)
            return
        }
        let handler = self.handler
        let work: @Sendable () async -> Void = { [self] in
            let response = await handler(request)
            stream.loop.execute { [self] in complete(request, response) }
        }
        // Small requests run on the connection's loop from start to answer. A big body (an
        // upload of many contacts) is parsed on the cooperative pool, so it cannot stall the
        // other connections of its loop.
        if request.body.count <= Self.loopBodyLimit {
            Task(executorPreference: stream.loop, operation: work)
        } else {
            Task(operation: work)
        }
    }

    private func complete(_ request: HTTPRequest, _ response: HTTPResponse) {
        busy = false
        if response.resetsConnection {
            stream.reset()
            return
        }
        let keepAlive = request.wantsKeepAlive && !draining && response.header("Connection")?.lowercased() != "close"
        stream.write(response.serialized(version: request.version, keepAlive: keepAlive, includeBody: request.method != "HEAD"))
        guard keepAlive else {
            stream.closeAfterFlush()
            return
        }
        stream.resumeReading()
        process()
        if draining, !busy, !parser.isMidRequest { stream.closeAfterFlush() }
    }

    private func fail(status: Int, code: String, message: String) {
        let response = HTTPResponse.error(status, code: code, message: message)
        stream.write(response.serialized(version: .http11, keepAlive: false, includeBody: true))
        stream.closeAfterFlush()
    }

    private func updateDeadline() {
        guard !busy else { return }
        if parser.isMidRequest {
            if parser.isReadingHead {
                // Armed once per request: trickling bytes must not extend it.
                if !headDeadlineArmed {
                    headDeadlineArmed = true
                    stream.setDeadline(configuration.headTimeout)
                }
            } else {
                stream.setDeadline(configuration.bodyTimeout)
            }
        } else {
            headDeadlineArmed = false
            stream.setDeadline(configuration.idleTimeout)
        }
    }

    private func timedOut() {
        guard !busy else { return }
        if parser.isMidRequest {
            fail(status: 408, code: "request_timeout", message: "the request did not arrive in time")
        } else {
            stream.close(reason: .timedOut)
        }
    }
}
