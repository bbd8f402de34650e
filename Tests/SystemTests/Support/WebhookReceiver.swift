import Foundation
import HTTP1
import JSON
import Runtime
import Transport

/// A real HTTP receiver for webhooks on an ephemeral loopback port: it records every request
/// (headers and raw body) and answers with the status the test sets (503 to play "down").
final class WebhookReceiver: @unchecked Sendable {
    struct Received: Sendable {
        let headers: [(name: String, value: String)]
        let body: [UInt8]
        let at: Date

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
        var json: JSONValue? { try? JSONParser.parse(body) }
    }

    private let server: HTTPServer
    private let lock = NSLock()
    private var received: [Received] = []
    private var arrivals = 0
    private var answer = 200
    private var delay: Duration = .zero
    private var task: Task<Void, Never>?

    var port: Int { Int(server.localAddress.port) }
    var url: String { "http://127.0.0.1:\(port)/hooks" }
    var requests: [Received] { lock.withLock { received } }
    /// Requests that arrived, answered or not yet.
    var arrived: Int { lock.withLock { arrivals } }
    /// The events delivered (answered 2xx), in arrival order.
    var delivered: [Received] { lock.withLock { received.filter { $0.header("X-Test-Answer") == nil } } }

    init() throws {
        let state = Box()
        server = try HTTPServer(address: HostPort(host: "127.0.0.1", port: 0), logger: Logger(service: "receiver", minimumLevel: .error)) { request in
            await state.receiver?.handle(request) ?? HTTPResponse(status: 500)
        }
        state.receiver = self
        let server = self.server
        task = Task { try? await server.run() }
    }

    private final class Box: @unchecked Sendable { weak var receiver: WebhookReceiver? }

    /// Answer every request with `status` from now on (after `delay`).
    func answer(_ status: Int, after delay: Duration = .zero) { lock.withLock { (answer, self.delay) = (status, delay) } }

    private func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let (status, delay) = lock.withLock { arrivals += 1; return (answer, self.delay) }
        if delay > .zero { try? await Task.sleep(for: delay) }
        let marked = request.headers + (status >= 300 ? [(name: "X-Test-Answer", value: String(status))] : [])
        lock.withLock { received.append(Received(headers: marked, body: request.body, at: Date())) }
        return HTTPResponse(status: status, headers: [("Content-Type", "text/plain")], body: Array("ok".utf8))
    }

    func stop() async {
        await server.shutdown()
        task?.cancel()
    }
}
