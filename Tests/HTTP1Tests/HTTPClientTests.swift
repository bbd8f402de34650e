import Foundation
import HTTP1
import Runtime
import Testing

/// The in-tree client against the in-tree server, over real loopback sockets.
@Suite struct HTTPClientTests {
    /// Runs `body` against a server on an ephemeral loopback port.
    func withServer(_ configuration: HTTPServerConfiguration = HTTPServerConfiguration(), handler: @escaping HTTPHandler,
                    _ body: (HTTPServer) async throws -> Void) async throws {
        let server = try HTTPServer(address: HostPort(host: "127.0.0.1", port: 0), configuration: configuration,
                                    logger: Logger(service: "test", minimumLevel: .error), handler: handler)
        let running = Task { try await server.run() }
        defer {
            running.cancel()
            Task { await server.shutdown() }
        }
        try await body(server)
    }

    @Test func reusesOneConnectionForSequentialRequests() async throws {
        try await withServer(handler: { request in
            HTTPResponse(status: request.method == "POST" ? 201 : 200, headers: [("X-Echo", request.header("X-Tag") ?? "")],
                         body: request.body.isEmpty ? Array(request.target.utf8) : request.body)
        }) { server in
            let client = HTTPClient(timeout: 5)
            let base = "http://127.0.0.1:\(server.localAddress.port)"
            for round in 0..<5 {
                let response = try await client.send("POST", base + "/callbacks?n=\(round)", headers: [("X-Tag", "t\(round)")], body: Array("body \(round)".utf8))
                #expect(response.status == 201)
                #expect(String(decoding: response.body, as: UTF8.self) == "body \(round)")
                #expect(response.headers.first { $0.name == "X-Echo" }?.value == "t\(round)")
            }
            let get = try await client.send("GET", base)
            #expect(get.status == 200 && String(decoding: get.body, as: UTF8.self) == "/")
            #expect(server.connectionCount == 1)
        }
    }

    @Test func replacesAConnectionTheServerClosedWhileIdle() async throws {
        var configuration = HTTPServerConfiguration()
        // Long enough that a loaded machine (CI runs suites side by side) still delivers the
        // first request before it: 0.5 s was not, once.
        configuration.idleTimeout = 1.5
        try await withServer(configuration, handler: { _ in HTTPResponse(status: 204) }) { server in
            let client = HTTPClient(timeout: 5)
            let url = "http://127.0.0.1:\(server.localAddress.port)/"
            #expect(try await client.send("POST", url).status == 204)
            try await Task.sleep(for: .milliseconds(3500))
            #expect(server.connectionCount == 0)
            #expect(try await client.send("POST", url).status == 204)
        }
    }

    /// `sendOnce` writes its request once, on a connection of its own, and never again: a server
    /// that reads it and drops the connection sees it exactly once, and the caller an error.
    @Test func sendOnceNeverResendsAndNeverReusesAConnection() async throws {
        let received = Counted()
        try await withServer(handler: { request in
            received.add(request.header("Connection") ?? "")
            if request.method == "POST" {
                var reset = HTTPResponse(status: 0)
                reset.resetsConnection = true
                return reset
            }
            return HTTPResponse(status: 200)
        }) { server in
            let client = HTTPClient(timeout: 2)
            let base = "http://127.0.0.1:\(server.localAddress.port)"
            // A pooled keep-alive connection exists; sendOnce must not use it.
            #expect(try await client.send("GET", base + "/").status == 200)
            await #expect(throws: HTTPClient.Failure.closedEarly) { try await client.sendOnce("POST", base + "/Call/", body: Array("x".utf8)) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(received.values == ["", "close"])
            #expect(try await client.sendOnce("GET", base + "/").status == 200)
            try await Task.sleep(for: .milliseconds(300))
            // Only the pooled connection of the first GET is left.
            #expect(server.connectionCount == 1)
        }
    }

    @Test func refusesWhatItCannotSpeak() async {
        let client = HTTPClient(timeout: 1)
        await #expect(throws: HTTPClient.Failure.self) { try await client.send("GET", "https://example.com/") }
        await #expect(throws: HTTPClient.Failure.self) { try await client.send("GET", "http://127.0.0.1:1/") }
    }
}

final class Counted: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var values: [String] { lock.withLock { stored } }
    func add(_ value: String) { lock.withLock { stored.append(value) } }
}
