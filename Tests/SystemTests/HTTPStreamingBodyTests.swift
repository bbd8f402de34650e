import Foundation
import Glibc
import HTTP1
import Runtime
import Testing

/// Request bodies handed to the handler as they arrive (`HTTPHeadVerdict.stream`), over real
/// sockets: read while still coming, held a piece at a time, bounded, and refusable early.
@Suite struct HTTPStreamingBodyTests {
    /// A server whose `POST /up` bodies stream to `handler` (up to `limit` bytes); `body` gets its port.
    func withServer(limit: Int, _ handler: @escaping HTTPHandler, _ body: (Int) async throws -> Void) async throws {
        let server = try HTTPServer(address: HostPort(host: "127.0.0.1", port: 0), logger: Logger(service: "test", minimumLevel: .error),
                                    headCheck: { $0.path == "/up" ? .stream(limit) : .proceed }, handler: handler)
        let running = Task { try await server.run() }
        defer {
            running.cancel()
            Task { await server.shutdown() }
        }
        try await body(Int(server.localAddress.port))
    }

    /// Counts a streamed body's bytes; answers 200 with the count.
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var bytes = 0
        var pieces = 0
        var failed: (any Error)?
        var total: Int { lock.withLock { bytes } }
    }

    /// Sends `bytes` on `fd`; returns how many went before the socket's send timeout.
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }
            offset += written
        }
        return offset
    }

    @Test func theHandlerReadsTheBodyWhileItIsStillComing() async throws {
        let counter = Counter()
        let firstPiece = AsyncStream<Void>.makeStream()
        try await withServer(limit: 8 << 20, { request in
            do {
                for try await piece in request.bodyStream! {
                    let first = counter.lock.withLock { counter.bytes += piece.count; counter.pieces += 1; return counter.pieces == 1 }
                    if first { firstPiece.continuation.yield() }
                }
            } catch {
                return HTTPResponse(status: 500)
            }
            return HTTPResponse(status: 200, body: Array(String(counter.total).utf8))
        }) { port in
            let client = try WireClient(port: port, timeout: 10)
            client.sendRaw(Array("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n".utf8) + [UInt8](repeating: 0x61, count: 1_000_000))
            // The handler has its first piece while two thirds of the body are still to be sent.
            var waiting = firstPiece.stream.makeAsyncIterator()
            _ = await waiting.next()
            #expect(counter.total < 3_000_000)
            client.sendRaw([UInt8](repeating: 0x62, count: 2_000_000))
            let status = try await onOwnThread { client.readStatusLine() }
            #expect(status == "HTTP/1.1 200 OK")
            #expect(counter.total == 3_000_000)
        }
    }

    /// A handler that does not read holds the connection's reading: the client can send only
    /// about the server's allowance plus the sockets' buffers, not the whole 64 MB.
    @Test func aHandlerThatDoesNotReadStopsTheReading() async throws {
        let counter = Counter()
        let proceed = AsyncStream<Void>.makeStream()
        try await withServer(limit: 128 << 20, { request in
            var iterator = request.bodyStream!.makeAsyncIterator()
            do {
                var waited = false
                while let piece = try await iterator.next() {
                    counter.lock.withLock { counter.bytes += piece.count }
                    if !waited {
                        waited = true
                        var gate = proceed.stream.makeAsyncIterator()
                        _ = await gate.next()
                    }
                }
            } catch {
                return HTTPResponse(status: 500)
            }
            return HTTPResponse(status: 200)
        }) { port in
            let size = 64 << 20
            let client = WireClient(fd: try HTTPClient.connect(port: port, timeout: 10))
            let fd = client.fd
            var sendTimeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
            let head = Array("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n".utf8)
            let body = [UInt8](repeating: 0x61, count: size)
            let sent = try await onOwnThread { Self.send(fd, head + body) }
            #expect(sent < 24 << 20, "sent \(sent) bytes to a handler that does not read")
            proceed.continuation.yield()
            // The rest is read as the handler takes it: allow for a loaded box.
            var patient = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patient, socklen_t(MemoryLayout<timeval>.size))
            let rest = try await onOwnThread { Self.send(fd, Array((head + body)[sent...])) }
            #expect(sent + rest == head.count + size)
            #expect(try await onOwnThread { client.readStatusLine() } == "HTTP/1.1 200 OK")
            #expect(counter.total == size)
        }
    }

    @Test func aBodyOverItsLimitIsRefusedWith413AndTheHandlerSeesItEnd() async throws {
        let counter = Counter()
        try await withServer(limit: 100_000, { request in
            do {
                for try await piece in request.bodyStream! { counter.lock.withLock { counter.bytes += piece.count } }
            } catch {
                counter.lock.withLock { counter.failed = error }
            }
            return HTTPResponse(status: 200)
        }) { port in
            let client = try WireClient(port: port, timeout: 10)
            var request = Array("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            for _ in 0..<20 { request += Array("2710\r\n".utf8) + [UInt8](repeating: 0x61, count: 10_000) + Array("\r\n".utf8) }
            client.sendRaw(request)
            #expect(try await onOwnThread { client.readStatusLine() }?.hasPrefix("HTTP/1.1 413 ") == true)
            try await Task.sleep(for: .milliseconds(100))
            #expect(counter.lock.withLock { counter.failed != nil } && counter.total <= 100_000)
        }
        // Declared too large: refused from its head, before a byte of it is read.
        try await withServer(limit: 1000, { _ in HTTPResponse(status: 200) }) { port in
            let client = try WireClient(port: port, timeout: 10)
            client.sendRaw(Array("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n".utf8))
            #expect(try await onOwnThread { client.readStatusLine() }?.hasPrefix("HTTP/1.1 413 ") == true)
        }
    }

    @Test func anAnswerBeforeTheBodyEndsClosesTheConnection() async throws {
        try await withServer(limit: 8 << 20, { request in
            var iterator = request.bodyStream!.makeAsyncIterator()
            _ = try? await iterator.next()
            return HTTPResponse.error(422, code: "invalid_csv", message: "the header row has no phone_number column")
        }) { port in
            let client = try WireClient(port: port, timeout: 10)
            client.sendRaw(Array("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nname,age\r\n".utf8))
            #expect(try await onOwnThread { client.readStatusLine() }?.hasPrefix("HTTP/1.1 422 ") == true)
            #expect(try await onOwnThread { client.isClosedByPeer() })
        }
    }
}
