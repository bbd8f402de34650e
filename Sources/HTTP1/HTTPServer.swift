import Dispatch
import Foundation
import Runtime
import Transport

public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse
/// Answers what it can at once, on the connection's own queue (no task, no hop); nil passes the
/// request on to the async handler. For cheap answers that need no other process.
public typealias HTTPImmediateHandler = @Sendable (HTTPRequest) -> HTTPResponse?
/// Looks at the head of a request that has a body, before any of the body is read and before
/// `100 Continue` is sent. Runs on the connection's loop; keep it cheap.
public typealias HTTPHeadCheck = @Sendable (HTTPRequest) -> HTTPHeadVerdict

/// What a head check decided.
public enum HTTPHeadVerdict: Sendable {
    /// Read the body, up to the server's limit.
    case proceed
    /// Read the body only up to this many bytes (413 above).
    case limitBody(Int)
    /// Hand the body to the handler as it arrives (`HTTPRequest.bodyStream`), up to this many
    /// bytes (413 above): the handler starts at once, and a slow one slows the reading.
    case stream(Int)
    /// Answer this without reading the body, then close the connection.
    case reject(HTTPResponse)
}

/// Timeouts and limits of the HTTP server; defaults suit a public API.
public struct HTTPServerConfiguration: Sendable {
    public var limits = HTTPLimits()
    /// From a request's first byte until its whole head has arrived: slowloris ends here.
    public var headTimeout: Double = 10
    /// From the end of a request's head until its whole body has arrived: an absolute deadline,
    /// not restarted by each read, so a body trickled a byte at a time still ends here (408).
    public var bodyTimeout: Double = 60
    /// How long a keep-alive connection may sit between requests.
    public var idleTimeout: Double = 75
    public var maxConnections = 20_000
    /// Connections open at once from one peer address; more are accepted and closed at once.
    public var maxConnectionsPerAddress = 256
    /// Request bodies held at once across all connections (declared lengths, and chunked bodies
    /// as they grow). A body that would take more is refused: 503 with Retry-After, then close.
    public var bodyBudgetBytes = 256 * 1024 * 1024
    /// Answers waiting for a peer that does not read: above this, the connection stops reading
    /// (and so stops taking requests) until they have drained.
    public var maxPendingOutput = 1024 * 1024
    /// A connection whose waiting answers have not moved for this long is closed.
    public var writeStallTimeout: Double = 30
    /// After refusing a request whose body may still be coming, how long the rest is read and
    /// dropped before the connection closes, so the refusal is not lost to a TCP reset.
    public var refusalLinger: Double = 2
    /// How long shutdown waits for in-flight requests.
    public var drainTimeout: Double = 10

    public init() {}
}

/// The bytes of request bodies held across a server's connections, against one budget.
final class HTTPBodyBudget: @unchecked Sendable {
    let capacity: Int
    private let lock = NSLock()
    private var used = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    func reserve(_ bytes: Int) -> Bool {
        lock.withLock {
            guard bytes <= capacity - used else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        lock.withLock { used = max(0, used - bytes) }
    }

    var inUse: Int { lock.withLock { used } }
}

/// An HTTP/1.1 server on non-blocking sockets: keep-alive, pipelining, 100-continue, chunked bodies.
public final class HTTPServer: Service, @unchecked Sendable {
    public let localAddress: HostPort
    private let listener: TCPListener
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let immediate: HTTPImmediateHandler?
    private let headCheck: HTTPHeadCheck?
    private let logger: Logger
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var draining = false
    private let stopped = AsyncStream<Void>.makeStream()
    private let limiter: ConnectionLimiter
    private let bodyBudget: HTTPBodyBudget

    public init(address: HostPort, configuration: HTTPServerConfiguration = HTTPServerConfiguration(), logger: Logger,
                immediate: HTTPImmediateHandler? = nil, headCheck: HTTPHeadCheck? = nil, handler: @escaping HTTPHandler) throws {
        self.immediate = immediate
        self.headCheck = headCheck
        listener = try TCPListener(address: address)
        localAddress = listener.localAddress
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
        bodyBudget = HTTPBodyBudget(capacity: configuration.bodyBudgetBytes)
    }

    public var connectionCount: Int { lock.withLock { connections.count } }

    public func run() async throws {
        listener.start { [self] fd, address in accept(fd, from: address) }
        for await _ in stopped.stream { break }
    }

    private func accept(_ fd: Int32, from address: PeerAddress?) {
        // Over a limit the connection is accepted and closed at once: left in the backlog it
        // would be offered again and again.
        guard !lock.withLock({ draining }), limiter.admit(address) == .admitted else {
            close(fd)
            return
        }
        let stream = StreamConnection(fd: fd)
        let connection = HTTPConnection(stream: stream, configuration: configuration, immediate: immediate, headCheck: headCheck,
                                        bodyBudget: bodyBudget, handler: handler) { [weak self] connection in
            self?.forget(connection, address: address)
        }
        lock.withLock { connections[ObjectIdentifier(connection)] = connection }
        connection.start()
    }

    private func forget(_ connection: HTTPConnection, address: PeerAddress?) {
        limiter.release(address)
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
    /// Chunked bodies take from the budget in steps of this much as they grow.
    static let budgetStep = 64 * 1024
    private let stream: StreamConnection
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let immediate: HTTPImmediateHandler?
    private let headCheck: HTTPHeadCheck?
    private let bodyBudget: HTTPBodyBudget
    private let onClose: (HTTPConnection) -> Void
    private var parser: HTTPRequestParser
    private var busy = false
    private var draining = false
    private var headDeadlineArmed = false
    private var bodyDeadlineArmed = false
    /// Inside `process`: an answer given at once continues its loop instead of recursing.
    private var processing = false
    /// Reading stopped because answers are waiting for the peer to read them.
    private var waitingForDrain = false
    /// A streamed body's writer, waiting for the peer to take what was written.
    private var chunkWaiter: CheckedContinuation<Void, any Error>?
    /// The peer shut down its sending side: answer what was fully received, then close.
    private var peerEnded = false
    /// The last answer is written; nothing more is parsed, the connection closes once it is sent.
    private var closing = false
    /// Budget held for the body of the request being read or handled.
    private var reservedBody = 0
    private var readingChunkedBody = false
    /// The body being handed to a running handler as it arrives.
    private var streamingBody: HTTPRequestBody?
    /// Reading stopped because the handler has not taken what came of its body.
    private var waitingForBodyReader = false
    /// Bytes of a streamed body that may wait unread before the connection stops reading.
    static let streamHighWater = 1024 * 1024

    init(stream: StreamConnection, configuration: HTTPServerConfiguration, immediate: HTTPImmediateHandler?, headCheck: HTTPHeadCheck?,
         bodyBudget: HTTPBodyBudget, handler: @escaping HTTPHandler, onClose: @escaping (HTTPConnection) -> Void) {
        self.immediate = immediate
        self.headCheck = headCheck
        self.bodyBudget = bodyBudget
        self.stream = stream
        self.configuration = configuration
        self.handler = handler
        self.onClose = onClose
        self.parser = HTTPRequestParser(limits: configuration.limits, reportsHeads: true)
        stream.writeStallTimeout = configuration.writeStallTimeout
    }

    func start() {
        stream.start(StreamConnection.Handlers(
            onRead: { [self] bytes in received(bytes) },
            onClose: { [self] _ in
                streamingBody?.fail(SocketError.system(call: "read", errno: ECONNRESET))
                streamingBody = nil
                releaseBody()
                chunkWaiter?.resume(throwing: SocketError.system(call: "write", errno: EPIPE))
                chunkWaiter = nil
                onClose(self)
            },
            onTimeout: { [self] in timedOut() },
            onReadEnd: { [self] in readEnded() },
            onDrained: { [self] in drained() }
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
        if busy, streamingBody == nil {
            // Pipelined requests wait their turn; stop reading once a full head's worth is queued.
            if parser.bufferedBytes > configuration.limits.maxHeaderBytes { stream.pauseReading() }
            return
        }
        process()
    }

    private func readEnded() {
        peerEnded = true
        if !busy || streamingBody != nil { process() }
    }

    /// The handler took what waited of its body: read on.
    private func bodyDrained() {
        guard waitingForBodyReader else { return }
        waitingForBodyReader = false
        process()
    }

    private func drained() {
        if let waiter = chunkWaiter {
            chunkWaiter = nil
            waiter.resume()
        }
        guard waitingForDrain else { return }
        waitingForDrain = false
        if !busy { process() }
    }

    private func process() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while !busy || streamingBody != nil, !closing, !stream.isClosed {
            if waitingForBodyReader { return }
            // A peer that sends requests but does not read the answers gets no more read from it
            // until they have drained.
            if stream.pendingOutput > configuration.maxPendingOutput {
                waitingForDrain = true
                stream.pauseReading()
                return
            }
            let event: HTTPRequestParser.Event
            do {
                event = try parser.next()
            } catch {
                fail(status: error.status, code: error.code, message: error.message)
                return
            }
            switch event {
            case .needMore:
                if readingChunkedBody, !reserveChunkedBody() { return }
                if peerEnded {
                    // Nothing more can arrive: whatever is partial is never answered.
                    streamingBody?.fail(SocketError.system(call: "read", errno: ECONNRESET))
                    streamingBody = nil
                    closing = true
                    stream.closeAfterFlush()
                    return
                }
                stream.resumeReading()
                updateDeadline()
                return
            case .head(let head):
                guard admit(head) else { return }
            case .sendContinue:
                stream.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            case .request(let request):
                dispatch(request)
            case .bodyPart(let bytes):
                if streamingBody?.append(bytes) == true {
                    waitingForBodyReader = true
                    stream.pauseReading()
                    return
                }
            case .bodyEnd:
                streamingBody?.finish()
                streamingBody = nil
                bodyDeadlineArmed = false
                stream.setDeadline(nil)
            }
        }
    }

    /// Decides, from its head alone, whether a request's body is read at all.
    private func admit(_ head: HTTPRequest) -> Bool {
        switch headCheck?(head) ?? .proceed {
        case .proceed:
            break
        case .limitBody(let bytes):
            do {
                try parser.limitBody(to: bytes)
            } catch {
                fail(status: error.status, code: error.code, message: error.message)
                return false
            }
        case .reject(let response):
            refuse(response, version: head.version, includeBody: head.method != "HEAD")
            return false
        case .stream(let bytes):
            do {
                try parser.limitBody(to: bytes)
            } catch {
                fail(status: error.status, code: error.code, message: error.message)
                return false
            }
            // Held a piece at a time: the budget covers what may wait unread, not the whole body.
            guard bodyBudget.reserve(2 * Self.streamHighWater) else {
                overBudget()
                return false
            }
            reservedBody = 2 * Self.streamHighWater
            parser.streamBody()
            bodyDeadlineArmed = true
            stream.setDeadline(configuration.bodyTimeout)
            startStreaming(head)
            return true
        }
        if let length = parser.declaredBodyLength {
            guard bodyBudget.reserve(length) else {
                overBudget()
                return false
            }
            reservedBody = length
        } else {
            readingChunkedBody = true
        }
        // Armed once, when the body starts: trickling bytes must not extend it.
        bodyDeadlineArmed = true
        stream.setDeadline(configuration.bodyTimeout)
        return true
    }

    /// Keeps the budget ahead of a chunked body as it grows.
    private func reserveChunkedBody() -> Bool {
        let needed = parser.bodyBytesReceived
        guard needed > reservedBody else { return true }
        let step = (needed - reservedBody + Self.budgetStep - 1) / Self.budgetStep * Self.budgetStep
        guard bodyBudget.reserve(step) else {
            overBudget()
            return false
        }
        reservedBody += step
        return true
    }

    private func releaseBody() {
        bodyBudget.release(reservedBody)
        reservedBody = 0
        readingChunkedBody = false
    }

    private func overBudget() {
        var response = HTTPResponse.error(503, code: "service_unavailable", message: "too many request bodies in flight; retry shortly")
        response.headers.append(("Retry-After", "1"))
        refuse(response, version: .http11, includeBody: true)
    }

    /// Answers without reading the rest of the request, then closes.
    private func refuse(_ response: HTTPResponse, version: HTTPVersion, includeBody: Bool) {
        streamingBody?.fail(HTTPParseError(status: response.status, code: "refused", message: "the request was refused"))
        streamingBody = nil
        waitingForBodyReader = false
        releaseBody()
        closing = true
        stream.write(response.serialized(version: version, keepAlive: false, includeBody: includeBody))
        stream.closeAfterFlush(linger: configuration.refusalLinger)
    }

    /// Starts the handler of a request whose body is read as it comes, on the cooperative pool
    /// (it may run as long as the body takes to arrive).
    private func startStreaming(_ head: HTTPRequest) {
        let body = HTTPRequestBody(highWater: Self.streamHighWater)
        body.onDrained = { [weak self] in
            guard let self else { return }
            stream.loop.execute { [self] in bodyDrained() }
        }
        streamingBody = body
        var request = head
        request.bodyStream = body
        request.receivedAt = Date().timeIntervalSince1970
        busy = true
        headDeadlineArmed = false
        let handler = self.handler
        Task { [self] in
            let response = await handler(request)
            stream.loop.execute { [self] in complete(request, response) }
        }
    }

    private func dispatch(_ parsed: HTTPRequest) {
        var received = parsed
        received.receivedAt = Date().timeIntervalSince1970
        let request = received
        busy = true
        readingChunkedBody = false
        headDeadlineArmed = false
        bodyDeadlineArmed = false
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
        // Refused or cut off while the handler ran: that answer is already on its way.
        guard !closing, !stream.isClosed else { return }
        if let body = streamingBody {
            // Answered before its body all came (a refusal): the rest is not read as requests.
            body.fail(CancellationError())
            streamingBody = nil
            waitingForBodyReader = false
            releaseBody()
            closing = true
            stream.write(response.serialized(version: request.version, keepAlive: false, includeBody: request.method != "HEAD"))
            stream.resumeReading()
            stream.closeAfterFlush(linger: configuration.refusalLinger)
            return
        }
        releaseBody()
        if response.resetsConnection {
            stream.reset()
            return
        }
        if let producer = response.bodyStream, request.method != "HEAD" {
            streamBody(producer, of: response, to: request)
            return
        }
        let keepAlive = request.wantsKeepAlive && !draining && response.header("Connection")?.lowercased() != "close"
            && (response.bodyStream == nil || request.version == .http11)
        stream.write(response.serialized(version: request.version, keepAlive: keepAlive, includeBody: request.method != "HEAD"))
        guard keepAlive else {
            closing = true
            stream.closeAfterFlush()
            return
        }
        if draining, !parser.isMidRequest {
            closing = true
            stream.closeAfterFlush()
            return
        }
        // Answered at once from inside `process`, whose loop goes on; otherwise start it again.
        process()
    }

    /// Writes a streamed body as its producer makes it: chunked (HTTP/1.1) or up to the close
    /// (HTTP/1.0), each piece waiting while the peer has more than `maxPendingOutput` unread.
    private func streamBody(_ producer: @escaping HTTPBodyProducer, of response: HTTPResponse, to request: HTTPRequest) {
        busy = true
        let chunked = request.version == .http11
        let keepAlive = chunked && request.wantsKeepAlive && !draining && response.header("Connection")?.lowercased() != "close"
        stream.write(response.serialized(version: request.version, keepAlive: keepAlive, includeBody: false))
        let limit = configuration.maxPendingOutput
        let writer = HTTPBodyWriter { [self] bytes in
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                stream.loop.execute { [self] in
                    guard !stream.isClosed else {
                        continuation.resume(throwing: SocketError.system(call: "write", errno: EPIPE))
                        return
                    }
                    stream.write(chunked ? Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10] : bytes)
                    if stream.pendingOutput > limit { chunkWaiter = continuation } else { continuation.resume() }
                }
            }
        }
        Task { [self] in
            var finished = true
            do { try await producer(writer) } catch { finished = false }
            stream.loop.execute { [self] in
                busy = false
                guard finished, !stream.isClosed else {
                    stream.close()
                    return
                }
                if chunked { stream.write(Array("0\r\n\r\n".utf8)) }
                guard keepAlive, !draining else {
                    closing = true
                    stream.closeAfterFlush()
                    return
                }
                process()
            }
        }
    }

    private func fail(status: Int, code: String, message: String) {
        refuse(HTTPResponse.error(status, code: code, message: message), version: .http11, includeBody: true)
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
            } else if !bodyDeadlineArmed {
                bodyDeadlineArmed = true
                stream.setDeadline(configuration.bodyTimeout)
            }
        } else {
            headDeadlineArmed = false
            stream.setDeadline(configuration.idleTimeout)
        }
    }

    private func timedOut() {
        guard !busy || streamingBody != nil else { return }
        if parser.isMidRequest {
            fail(status: 408, code: "request_timeout", message: "the request did not arrive in time")
        } else {
            stream.close(reason: .timedOut)
        }
    }
}
