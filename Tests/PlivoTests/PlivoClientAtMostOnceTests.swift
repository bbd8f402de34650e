import Foundation
import Glibc
@testable import Plivo
import Testing

/// A raw TCP Plivo stand-in on an ephemeral loopback port. GETs are answered 200 and the
/// connection kept open (so an HTTP stack has one to reuse); `POST …/Call/` requests are counted
/// across every connection as soon as their head arrives, then answered or not as the test says.
final class PlivoStandIn: @unchecked Sendable {
    enum CallAnswer {
        /// Read the whole POST, then close without a byte of answer.
        case closeWithoutAnswer
        /// Answer the first POST 201 on a keep-alive connection; read every later one and close.
        case answerFirstThenClose
    }

    let port: Int
    private let listener: Int32
    private let answer: CallAnswer
    private let lock = NSLock()
    private var posts = 0
    private var deletes = 0
    private var connections = 0

    var callRequests: Int { lock.withLock { posts } }
    var cancelRequests: Int { lock.withLock { deletes } }
    var connectionCount: Int { lock.withLock { connections } }

    init(_ answer: CallAnswer) throws {
        self.answer = answer
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptForever() }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptForever() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            lock.withLock { connections += 1 }
            Thread.detachNewThread { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        while let request = readRequest(fd, &buffer, onHead: { head in
            // Counted as soon as its head arrives: a re-sent request whose body never follows counts too.
            if head.hasPrefix("POST ") && head.contains("/Call/ ") { lock.withLock { posts += 1 } }
            if head.hasPrefix("DELETE ") && head.contains("/Request/") { lock.withLock { deletes += 1 } }
        }) {
            if request.hasPrefix("GET ") {
                guard write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}") else { return }
                continue
            }
            let first = lock.withLock { posts == 1 }
            guard answer == .answerFirstThenClose, first else { return }
            let body = #"{"message":"call fired","request_uuid":"11111111-2222-3333-4444-555555555555","api_id":"x"}"#
            // Keep-alive, whatever the request asked: the reused-connection case must be tried.
            guard write(fd, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)") else { return }
        }
    }

    private func write(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// One whole request (head and Content-Length body) as text; nil when the peer closed.
    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8], onHead: (String) -> Void) -> String? {
        var headSeen = false
        while true {
            if let end = headEnd(buffer) {
                if !headSeen {
                    headSeen = true
                    onHead(String(decoding: buffer[..<end], as: UTF8.self))
                }
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if buffer.count >= end + 4 + length {
                    let request = String(decoding: buffer[..<(end + 4 + length)], as: UTF8.self)
                    buffer.removeFirst(end + 4 + length)
                    return request
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            buffer += chunk[..<count]
        }
    }

    private func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Issue 10: libcurl re-sent a create-call POST on a new connection when a reused keep-alive
/// connection died before the first response byte, placing the call twice. A call request must
/// reach Plivo at most once per placement, counted at the socket.
@Suite(.serialized) struct PlivoClientAtMostOnceTests {
    static let call = PlivoCallRequest(from: "14155550100", to: "14155550199", answerURL: "http://127.0.0.1:1/a", hangupURL: "http://127.0.0.1:1/h",
                                       ringURL: "http://127.0.0.1:1/r", ringTimeout: 45, timeLimit: 3600)

    func client(_ standIn: PlivoStandIn, urlSessionOnly: Bool) -> PlivoClient {
        PlivoClient(account: PlivoAccount(apiURL: "http://127.0.0.1:\(standIn.port)", authID: "MATESTACCOUNT0000001", authToken: "token"),
                    timeout: 3, maxConnections: 4, userAgent: "test", urlSessionOnly: urlSessionOnly)
    }

    @Test(arguments: [false, true])
    func aCallRequestTheServerReadAndDroppedIsNotSentAgain(urlSessionOnly: Bool) async throws {
        let standIn = try PlivoStandIn(.closeWithoutAnswer)
        defer { standIn.stop() }
        let plivo = client(standIn, urlSessionOnly: urlSessionOnly)
        // The warm-up leaves a keep-alive connection an HTTP stack would reuse.
        #expect(await plivo.warmUp() == 200)
        for placement in 1...3 {
            let result = await plivo.placeCall(Self.call)
            guard case .uncertain = result else {
                Issue.record("placement \(placement): \(result), expected uncertain")
                continue
            }
        }
        try await Task.sleep(for: .seconds(2))
        #expect(standIn.callRequests == 3)
    }

    /// A cancel re-sent after the first one worked would be answered 404, "the call started".
    @Test(arguments: [false, true])
    func aCancelTheServerReadAndDroppedIsNotSentAgain(urlSessionOnly: Bool) async throws {
        let standIn = try PlivoStandIn(.closeWithoutAnswer)
        defer { standIn.stop() }
        let plivo = client(standIn, urlSessionOnly: urlSessionOnly)
        #expect(await plivo.warmUp() == 200)
        guard case .unavailable = await plivo.cancelQueued(requestUUID: "fa90db01-28be-45b1-b96a-79bde933e5c1") else {
            Issue.record("expected unavailable")
            return
        }
        try await Task.sleep(for: .seconds(2))
        #expect(standIn.cancelRequests == 1)
    }

    /// Plivo's "call queued" is cancellable only with its id; an id that is not one is never put in a path.
    @Test func queuedAnswersAndRequestIDs() async {
        func answer(_ body: String) -> PlivoCallResult { PlivoClient.classify(status: 201, retryAfter: nil, body: Array(body.utf8)) }
        #expect(answer(#"{"message":"call queued","request_uuid":"r-1","api_id":"a"}"#) == .queued(requestUUID: "r-1"))
        #expect(answer(#"{"message":"call fired","request_uuid":"r-1","api_id":"a"}"#) == .accepted(requestUUID: "r-1"))
        #expect(answer(#"{"message":"call queued","api_id":"a"}"#) == .accepted(requestUUID: nil))
        let plivo = PlivoClient(account: PlivoAccount(apiURL: "http://127.0.0.1:1", authID: "MATESTACCOUNT0000001", authToken: "token"),
                                timeout: 1, maxConnections: 1, userAgent: "test")
        #expect(await plivo.cancelQueued(requestUUID: "../Call/x") == .notQueued)
        #expect(await plivo.cancelQueued(requestUUID: "") == .notQueued)
    }

    @Test(arguments: [false, true])
    func aCallRequestOnAConnectionThatDiesIsNotSentAgain(urlSessionOnly: Bool) async throws {
        let standIn = try PlivoStandIn(.answerFirstThenClose)
        defer { standIn.stop() }
        let plivo = client(standIn, urlSessionOnly: urlSessionOnly)
        #expect(await plivo.placeCall(Self.call) == .accepted(requestUUID: "11111111-2222-3333-4444-555555555555"))
        let second = await plivo.placeCall(Self.call)
        guard case .uncertain = second else {
            Issue.record("second placement: \(second), expected uncertain")
            return
        }
        try await Task.sleep(for: .seconds(2))
        #expect(standIn.callRequests == 2)
    }
}
