import Foundation
import Glibc
import JSON
import Testing

/// The gateway's HTTP/1.1 server, driven byte by byte over real sockets.
@Suite(.serialized) struct HTTPServerTests {
    static let authorization = "Authorization: Bearer \(Keys.acme)\r\n"

    @Test func servesPipelinedKeepAliveRequestsInOrder() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let requests = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /v1/campaigns/\(id) HTTP/1.1\r\nHost: x\r\n\(Self.authorization)\r\n"
            + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let responses = try await stack.client.exchange(Array(requests.utf8))
        #expect(responses.map(\.status) == [200, 200, 404, 200])
        #expect(responses[1].json?["id"] == .string(id))
        #expect(responses[3].header("Connection") == "close")
    }

    @Test func speaksHTTP10() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let raw = try await stack.client.rawExchange(Array("GET /healthz HTTP/1.0\r\n\r\n".utf8))
        let text = String(decoding: raw, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(text.contains("Connection: close"))
    }

    @Test func readsChunkedBodies() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let body = #"{"name":"chunked","agent_id":"a"}"#
        let chunks = stride(from: 0, to: body.utf8.count, by: 7).map { start -> String in
            let piece = String(body.utf8.dropFirst(start).prefix(7))!
            return String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n"
        }.joined() + "0\r\n\r\n"
        let request = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
        let responses = try await stack.client.exchange(Array(request.utf8))
        #expect(responses.first?.status == 201)
    }

    @Test func answersExpectContinueBeforeTheBody() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let body = Array(#"{"name":"expect","agent_id":"a"}"#.utf8)
        let head = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: \(body.count)\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        let port = stack.client.port
        let transcript = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let fd = try HTTPClient.connect(port: port, timeout: 10)
                    defer { close(fd) }
                    _ = Array(head.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = recv(fd, &buffer, buffer.count, 0)
                    let interim = String(decoding: buffer[0..<max(count, 0)], as: UTF8.self)
                    _ = body.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                    var rest: [UInt8] = []
                    while true {
                        let read = recv(fd, &buffer, buffer.count, 0)
                        if read <= 0 { break }
                        rest += buffer[0..<read]
                    }
                    return interim + "|" + String(decoding: rest, as: UTF8.self)
                })
            }
        }
        #expect(transcript.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n|"))
        #expect(transcript.contains("HTTP/1.1 201 Created"))
    }

    @Test func refusesSmugglingShapesAndCloses() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let attacks = [
            "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
            "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
            "GET /healthz HTTP/1.1\nHost: x\n\n",
            // With a key: a keyless request with a body is refused (401) before its body is read.
            "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Transfer-Encoding: chunked\r\n\r\n-1\r\n",
        ]
        for attack in attacks {
            let responses = try await stack.client.exchange(Array(attack.utf8))
            #expect(responses.count == 1, "\(attack.debugDescription)")
            #expect(responses.first?.status == 400, "\(attack.debugDescription)")
            #expect(responses.first?.header("Connection") == "close")
            #expect(responses.first?.errorCode == "bad_request")
        }
        let preface = try await stack.client.exchange(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        #expect(preface.first?.status == 505)
        let nineteen = try await stack.client.rawExchange(Array("GET /healthz\r\n".utf8))
        #expect(String(decoding: nineteen, as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        // Still serving.
        #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)
    }

    @Test func boundsLinesHeadersAndBodies() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_MAX_BODY_BYTES": "4096"])
        defer { stack.stop() }
        let longLine = "GET /" + String(repeating: "a", count: 10_000) + " HTTP/1.1\r\n\r\n"
        #expect(try await stack.client.exchange(Array(longLine.utf8)).first?.status == 414)
        let bigHeader = "GET /healthz HTTP/1.1\r\nX: " + String(repeating: "b", count: 40_000) + "\r\n\r\n"
        #expect(try await stack.client.exchange(Array(bigHeader.utf8)).first?.status == 431)
        let big = try await stack.client.request("POST", "/v1/campaigns", json: String(repeating: " ", count: 5000) + "{}")
        #expect(big.status == 413)
        #expect(big.errorCode == "payload_too_large")
    }

    @Test func dropsSlowHeadersAndIdleConnectionsOnTime() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_HTTP_HEADER_TIMEOUT": "0.5", "RYMI_HTTP_IDLE_TIMEOUT": "0.5"])
        defer { stack.stop() }
        let started = Date()
        // A head that never finishes: 408, then closed, long before the client would give up.
        let slow = try await stack.client.rawExchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8), timeout: 10)
        #expect(String(decoding: slow, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        // A connection that sends nothing is closed silently.
        let idle = try await stack.client.rawExchange([], timeout: 10)
        #expect(idle.isEmpty)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func slowClientsDoNotBlockOthers() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let port = stack.client.port
        // 200 connections that send half a request and then wait.
        var stalled: [Int32] = []
        for _ in 0..<200 {
            let fd = try HTTPClient.connect(port: port, timeout: 5)
            _ = Array("GET /healthz HTTP/1.1\r\nHo".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            stalled.append(fd)
        }
        defer { stalled.forEach { close($0) } }
        // Blocked behind them, a request would wait for their 10 s head timeout: each is answered well before.
        var slowest = 0.0
        for _ in 0..<20 {
            let started = Date()
            #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)
            slowest = max(slowest, Date().timeIntervalSince(started))
        }
        #expect(slowest < 5, "the slowest answer took \(slowest) s")
    }

    @Test func terminatesGracefullyOnSIGTERM() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        stack.gateway.signal(SIGTERM)
        stack.manager.signal(SIGTERM)
        #expect(await stack.gateway.waitForExit() == 0)
        #expect(await stack.manager.waitForExit() == 0)
    }
}
