import Foundation
import Runtime
import Transport

/// A small HTTP/1.1 client for plain-HTTP peers on the event loops: keep-alive connections per
/// host, one request at a time on each, bodies framed by Content-Length. It exists for the Plivo
/// simulator's callbacks, where URLSession's threads cost more CPU than the stack under test, and
/// for the dialer's call requests to a plain-HTTP Plivo on loopback (`sendOnce`); anything that
/// may speak TLS (Plivo itself) uses URLSession.
///
/// Two ways to send: `send` is for idempotent requests only (it resends a request a reused
/// connection never answered); `sendOnce` writes the request at most once, on a connection of
/// its own, and never resends it.
public final class HTTPClient: @unchecked Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    public enum Failure: Error, Sendable, Equatable {
        case unsupportedURL(String)
        case connectionFailed(String)
        case closedEarly
        case timedOut
        case malformedResponse(String)
        /// The connection was ready only after `sendBy`: nothing was written.
        case deadlinePassed
    }

    private let timeout: Double
    private let loop: EventLoop?
    private let lock = NSLock()
    private var idle: [HostPort: [ClientConnection]] = [:]
    private static let maxIdlePerHost = 512

    /// - Parameter loop: the loop of every connection; by default they are spread over the shared ones.
    public init(timeout: Double = 10, loop: EventLoop? = nil) {
        self.timeout = timeout
        self.loop = loop
    }

    /// Sends an idempotent request over a pooled keep-alive connection. A request written on a
    /// reused connection that closes before any byte of an answer is sent again on a new one, so
    /// the peer may receive it twice: never use this for a request that must happen at most once.
    public func send(_ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) async throws -> Response {
        let (address, request) = try Self.encode(method, url, headers: headers, body: body, close: false)
        if let reused = takeIdle(address) {
            // The server may have closed it while it sat idle, even as we wrote to it: a request
            // it never read is sent again on a new connection.
            do {
                return try await exchange(request, on: reused, address: address)
            } catch HTTPClient.Failure.closedEarly where !reused.receivedAnything {
            }
        }
        return try await exchange(request, on: try await connect(address), address: address)
    }

    /// Sends a request at most once: on a new connection of its own (never a pooled one, which
    /// the server may be closing), with `Connection: close`, closed after the answer and never
    /// resent. `connectionFailed` means nothing was written; any other failure means the peer may
    /// have received and acted on the request.
    ///
    /// - Parameters:
    ///   - sendBy: when given, the request is written only if the connection is ready by then;
    ///     otherwise nothing is written and `Failure.deadlinePassed` is thrown.
    ///   - sentAtHeader: a header to carry the moment of writing, in milliseconds since the epoch.
    public func sendOnce(_ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                         sendBy: ContinuousClock.Instant? = nil, sentAtHeader: String? = nil) async throws -> Response {
        let address = try Self.encode(method, url, headers: [], body: [], close: true).0
        let connection = try await connect(address)
        defer { connection.close() }
        if let sendBy, ContinuousClock.now > sendBy { throw Failure.deadlinePassed }
        var headers = headers
        if let sentAtHeader { headers.append((sentAtHeader, String(format: "%.3f", Date().timeIntervalSince1970 * 1000))) }
        let request = try Self.encode(method, url, headers: headers, body: body, close: true).1
        return try await connection.exchange(request, timeout: timeout).0
    }

    /// The peer's address and the request's bytes.
    private static func encode(_ method: String, _ url: String, headers: [(name: String, value: String)], body: [UInt8],
                               close: Bool) throws(Failure) -> (HostPort, [UInt8]) {
        guard url.hasPrefix("http://") else { throw Failure.unsupportedURL(url) }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let target = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard let address = HostPort(parsing: authority) ?? HostPort(parsing: authority + ":80") else {
            throw Failure.unsupportedURL(url)
        }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(authority)\r\nContent-Length: \(body.count)\r\n"
        if close { head += "Connection: close\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return (address, Array(head.utf8) + body)
    }

    private func exchange(_ request: [UInt8], on connection: ClientConnection, address: HostPort) async throws -> Response {
        let (response, reusable) = try await connection.exchange(request, timeout: timeout)
        if reusable { release(connection, to: address) } else { connection.close() }
        return response
    }

    /// An idle connection that has not been closed, if any.
    private func takeIdle(_ address: HostPort) -> ClientConnection? {
        lock.withLock {
            while let candidate = idle[address]?.popLast() {
                if !candidate.isClosed { return candidate }
            }
            return nil
        }
    }

    private func connect(_ address: HostPort) async throws -> ClientConnection {
        do {
            let connection = ClientConnection(stream: try await StreamConnection.connect(to: address, timeout: 2, loop: loop))
            connection.start()
            return connection
        } catch {
            throw Failure.connectionFailed("\(address): \(error)")
        }
    }

    private func release(_ connection: ClientConnection, to address: HostPort) {
        let kept = lock.withLock { () -> Bool in
            guard idle[address, default: []].count < Self.maxIdlePerHost else { return false }
            idle[address, default: []].append(connection)
            return true
        }
        if !kept { connection.close() }
    }
}

/// One keep-alive connection of the client; everything runs on its stream's loop.
final class ClientConnection: @unchecked Sendable {
    private let stream: StreamConnection
    private var buffer: [UInt8] = []
    private var waiting: CheckedContinuation<(HTTPClient.Response, Bool), any Error>?
    private let stateLock = NSLock()
    private var closed = false
    private var received = false

    /// Read from any thread, by the pool.
    var isClosed: Bool { stateLock.withLock { closed } }
    /// Whether the current exchange got any byte back (then it must not be sent again).
    var receivedAnything: Bool { stateLock.withLock { received } }

    init(stream: StreamConnection) {
        self.stream = stream
    }

    func start() {
        stream.start(StreamConnection.Handlers(
            onRead: { [self] bytes in read(bytes) },
            onClose: { [self] _ in
                stateLock.withLock { closed = true }
                finish(.failure(HTTPClient.Failure.closedEarly))
            },
            onTimeout: { [self] in
                finish(.failure(HTTPClient.Failure.timedOut))
                stream.close(reason: .timedOut)
            }
        ))
    }

    func exchange(_ request: [UInt8], timeout: Double) async throws -> (HTTPClient.Response, Bool) {
        try await withCheckedThrowingContinuation { continuation in
            stream.loop.execute { [self] in
                stateLock.withLock { received = false }
                guard !isClosed else {
                    continuation.resume(throwing: HTTPClient.Failure.closedEarly)
                    return
                }
                waiting = continuation
                buffer.removeAll(keepingCapacity: true)
                stream.setDeadline(timeout)
                stream.write(request)
            }
        }
    }

    func close() {
        stream.loop.execute { [self] in stream.close() }
    }

    private func finish(_ result: Result<(HTTPClient.Response, Bool), any Error>) {
        guard let waiting else { return }
        self.waiting = nil
        stream.setDeadline(nil)
        waiting.resume(with: result)
    }

    private func read(_ bytes: [UInt8]) {
        stateLock.withLock { received = true }
        buffer.append(contentsOf: bytes)
        guard waiting != nil else { return }
        do {
            if let complete = try Self.parse(buffer) { finish(.success(complete)) }
        } catch {
            finish(.failure(error))
            stream.close()
        }
    }

    /// Where the blank line ending the head starts.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D && bytes[index + 3] == 0x0A {
            return index
        }
        return nil
    }

    /// A whole response from the bytes so far, and whether the connection may carry another;
    /// nil while more is needed.
    static func parse(_ bytes: [UInt8]) throws(HTTPClient.Failure) -> (HTTPClient.Response, Bool)? {
        guard let headEnd = headEnd(bytes) else {
            if bytes.count > 64 * 1024 { throw .malformedResponse("head over 64 KiB") }
            return nil
        }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw .malformedResponse("status line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw .malformedResponse("header line") }
            let value = line[line.index(after: colon)...].utf8.drop(while: { $0 == 0x20 || $0 == 0x09 })
            headers.append((String(line[..<colon]), String(Substring(value))))
        }
        func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
        guard header("Transfer-Encoding") == nil else { throw .malformedResponse("chunked bodies are not supported") }
        guard let length = Int(header("Content-Length") ?? "0"), length >= 0 else { throw .malformedResponse("Content-Length") }
        let bodyStart = headEnd + 4
        guard bytes.count - bodyStart >= length else { return nil }
        let keepAlive = header("Connection")?.lowercased() != "close" && statusParts[0] == "HTTP/1.1"
        return (HTTPClient.Response(status: status, headers: headers, body: Array(bytes[bodyStart..<bodyStart + length])), keepAlive)
    }
}
