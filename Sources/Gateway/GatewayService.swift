import Foundation
import HTTP1
import JSON
import Protocol
import RPC
import Runtime
import Transport

/// `rymi-gateway`: the public REST API over HTTP/1.1, backed by one multiplexed manager connection.
public final class GatewayService: Service {
    public let http: HTTPServer
    /// The operator-only listener (`RYMI_ADMIN_ADDR`): metrics and readiness details.
    public let admin: HTTPServer
    let manager: RPCClient
    private let logger: Logger

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.logger = logger
        let manager = RPCClient(address: configuration.managerAddress, role: .gateway, name: "gateway-\(getpid())",
                                secret: configuration.managerSecret, logger: logger)
        self.manager = manager
        // The server binds first, so an unset RYMI_PUBLIC_URL can default to the bound address;
        // it serves nothing until `run`, by which time the front door is in place.
        let frontDoor = FrontDoorSlot()
        var httpConfiguration = HTTPServerConfiguration()
        // The parser's bound is the larger; the head check gives each request its own.
        httpConfiguration.limits = HTTPLimits(maxBodyBytes: max(configuration.maxBodyBytes, configuration.maxCSVBytes))
        httpConfiguration.headTimeout = configuration.headTimeout
        httpConfiguration.idleTimeout = configuration.idleTimeout
        httpConfiguration.bodyTimeout = configuration.bodyTimeout
        httpConfiguration.bodyBudgetBytes = configuration.bodyBudgetBytes
        httpConfiguration.maxConnectionsPerAddress = configuration.maxConnectionsPerAddress
        httpConfiguration.writeStallTimeout = configuration.writeStallTimeout
        http = try HTTPServer(address: configuration.httpAddress, configuration: httpConfiguration, logger: logger,
                              immediate: { request in frontDoor.value!.handleImmediately(request) },
                              headCheck: { request in frontDoor.value!.checkHead(request) }) { request in
            await frontDoor.value!.handle(request)
        }
        // Operators and their scrapers only: small requests, few connections, no bodies to speak of.
        var adminConfiguration = HTTPServerConfiguration()
        adminConfiguration.limits = HTTPLimits(maxBodyBytes: 1024)
        adminConfiguration.maxConnections = 256
        adminConfiguration.bodyBudgetBytes = 1024 * 1024
        adminConfiguration.headTimeout = configuration.headTimeout
        adminConfiguration.writeStallTimeout = configuration.writeStallTimeout
        let handleAdmin: HTTPHandler = { request in await frontDoor.value!.handleAdmin(request) }
        do {
            admin = try HTTPServer(address: configuration.adminAddress, configuration: adminConfiguration, logger: logger, handler: handleAdmin)
        } catch SocketError.system("bind", EADDRINUSE) where configuration.adminAddressIsDefault {
            // A second gateway on this host (the operator did not choose the port): a free port
            // beats not starting; the `listening` event says which.
            logger.warning("admin_port_in_use", ["addr": configuration.adminAddress.description, "hint": "set RYMI_ADMIN_ADDR"])
            admin = try HTTPServer(address: HostPort(host: configuration.adminAddress.host, port: 0), configuration: adminConfiguration,
                                   logger: logger, handler: handleAdmin)
        }
        var router = Router()
        var campaigns = CampaignAPI(manager: manager, maxContactsPerUpload: configuration.maxContactsPerUpload)
        campaigns.minimumRetryDelay = configuration.minimumRetryDelay
        campaigns.maxCSVContacts = configuration.maxCSVContacts
        campaigns.register(in: &router)
        DialingAPI(campaigns: campaigns).register(in: &router)
        NumbersAPI(campaigns: campaigns).register(in: &router)
        WebhooksAPI(campaigns: campaigns, policy: configuration.webhookPolicy).register(in: &router)
        var callbackRouter = Router()
        let metrics = GatewayMetrics()
        let publicURL = configuration.publicURL ?? "http://\(http.localAddress)"
        PlivoCallbacks(manager: manager, authToken: configuration.plivoAuthToken, publicURL: publicURL,
                       agentStreamURL: configuration.agentStreamURL, signatureFailures: metrics.signatureFailures,
                       logger: logger).register(in: &callbackRouter)
        for warning in configuration.secretWarnings { logger.warning("weak_secret", ["problem": warning]) }
        if let keys = configuration.generatedAPIKeys {
            logger.announce("demo_api_key", ["api_keys": keys, "hint": "made on first start into RYMI_SECRETS_DIR; send Authorization: Bearer <the key after demo:>. Set RYMI_API_KEYS (or _FILE) for your own"])
        }
        if configuration.metricsToken == nil, !configuration.adminAddress.isLoopback {
            logger.warning("metrics_unprotected", ["addr": configuration.adminAddress.description,
                                                   "hint": "the admin listener is beyond loopback: set RYMI_METRICS_TOKEN"])
        }
        if !configuration.apiKeys.weakKeyAccounts.isEmpty {
            logger.warning("weak_api_keys", ["accounts": configuration.apiKeys.weakKeyAccounts.joined(separator: ","),
                                             "hint": "use keys of at least 16 random characters"])
        }
        if configuration.plivoAuthToken == nil {
            logger.warning("callbacks_disabled", ["reason": "PLIVO_AUTH_TOKEN is not set, so no callback can be verified"])
        }
        frontDoor.value = FrontDoor(router: router, callbackRouter: callbackRouter, apiKeys: configuration.apiKeys, manager: manager,
                                    metrics: metrics, metricsToken: configuration.metricsToken,
                                    maxBodyBytes: configuration.maxBodyBytes, maxCSVBytes: configuration.maxCSVBytes,
                                    rateLimiter: configuration.rateLimit > 0 ? RateLimiter(rate: configuration.rateLimit, burst: configuration.rateBurst) : nil,
                                    logger: logger)
        logger.announce("listening", ["addr": http.localAddress.description, "manager": configuration.managerAddress.description, "public_url": publicURL])
        // After the public listener's event, and marked: tools that take the first `listening`
        // event's address find the API.
        logger.announce("listening", ["addr": admin.localAddress.description, "listener": "admin"])
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.manager.run() }
            group.addTask { try await self.http.run() }
            group.addTask { try await self.admin.run() }
            try await group.waitForAll()
        }
    }

    public func shutdown() async {
        await http.shutdown()
        await admin.shutdown()
        await manager.shutdown()
    }
}

/// Holds the front door from construction until the server runs; written once, then only read.
final class FrontDoorSlot: @unchecked Sendable {
    var value: FrontDoor?
}

/// Everything every request goes through: request id, health, authentication, routing, and
/// turning any failure into the one error shape.
struct FrontDoor: Sendable {
    let router: Router
    let callbackRouter: Router
    let apiKeys: APIKeys
    let manager: RPCClient
    let metrics: GatewayMetrics
    let metricsToken: String?
    let maxBodyBytes: Int
    let maxCSVBytes: Int
    let rateLimiter: RateLimiter?
    let logger: Logger

    /// Liveness needs nothing but this process, so it is answered on the connection's queue.
    func handleImmediately(_ request: HTTPRequest) -> HTTPResponse? {
        guard request.path == "/healthz", request.method == "GET" || request.method == "HEAD" else { return nil }
        let started = ContinuousClock.now
        let requestID = Self.requestID(request)
        return finish(request, Self.alive, requestID: requestID, started: started, route: "/healthz")
    }

    static let alive = HTTPResponse.json(200, .object([("status", .string("ok"))]))

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let started = ContinuousClock.now
        let requestID = Self.requestID(request)
        var pattern: String?
        let response = await respond(request, requestID: requestID, matched: &pattern)
        return finish(request, response, requestID: requestID, started: started, route: pattern)
    }

    /// Tags, counts and logs every response.
    private func finish(_ request: HTTPRequest, _ response: HTTPResponse, requestID: String, started: ContinuousClock.Instant,
                        route knownRoute: String? = nil) -> HTTPResponse {
        var response = response
        response.headers.append(("X-Request-Id", requestID))
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let route = knownRoute ?? routeLabel(request.path)
        let method = GatewayMetrics.methodLabel(request.method)
        let status = GatewayMetrics.statusLabel(response.status)
        metrics.requests.increment(["method": method, "route": route, "status": status])
        metrics.latency.observe(seconds, ["route": route])
        let level: Logger.Level = response.status >= 500 ? .error : .info
        if level >= logger.minimumLevel {
            logger.log(level, "http_request", [
                "request_id": requestID, "method": method, "route": route, "status": status,
                "duration_ms": String(Double(Int(seconds * 100_000)) / 100),
            ])
        }
        return response
    }

    /// The route as a metric label, from a closed set: a route pattern, a health path, or
    /// `unmatched`. Never the path itself, which the client chose.
    func routeLabel(_ path: Substring) -> String {
        if let pattern = router.pattern(for: path) ?? callbackRouter.pattern(for: path) { return pattern }
        if path == "/healthz" { return "/healthz" }
        if path == "/readyz" { return "/readyz" }
        if Dashboard.serves(path) { return "/app" }
        return "unmatched"
    }

    /// Looks at the head of a request with a body before any of the body is read (and before
    /// `100 Continue`): an API request without a valid key is refused at once and its body never
    /// read; requests that need no key (callbacks, whose signature covers the body) may send a
    /// small body only.
    func checkHead(_ request: HTTPRequest) -> HTTPHeadVerdict {
        let path = request.path
        guard path == "/v1" || path.hasPrefix("/v1/") else { return .limitBody(Self.unauthenticatedBodyBytes) }
        do {
            _ = try authenticate(request)
            // A CSV upload is read as it comes: a million rows without holding the file.
            if request.method == "POST", CampaignAPI.isCSV(request), case .found(_, _, let pattern) = router.match(method: "POST", path: path),
               pattern == "/v1/campaigns/:id/contacts" {
                return .stream(maxCSVBytes)
            }
            return .limitBody(maxBodyBytes)
        } catch {
            var response = finish(request, error.response, requestID: Self.requestID(request), started: ContinuousClock.now)
            response.headers.append(("Connection", "close"))
            return .reject(response)
        }
    }

    static let openAPIDocument = Array(OpenAPIDocument.json.utf8)

    /// The largest body a request without an API key may send: Plivo's callbacks are a few
    /// hundred bytes of form fields.
    static let unauthenticatedBodyBytes = 64 * 1024

    /// `matched` gets the route pattern that served the request, for metrics and logs.
    private func respond(_ request: HTTPRequest, requestID: String, matched: inout String?) async -> HTTPResponse {
        let path = request.path
        if path == "/readyz", request.method == "GET" || request.method == "HEAD" {
            return await publicReadiness()
        }
        if path == "/openapi.json", request.method == "GET" || request.method == "HEAD" {
            // The contract is public: no key needed to read it.
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Self.openAPIDocument)
        }
        if let page = Dashboard.response(request) {
            matched = "/app"
            return page
        }
        if ["/healthz", "/readyz", "/openapi.json"].contains(path) {
            return APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use GET, HEAD", headers: [("Allow", "GET, HEAD")]).response
        }
        do {
            if path.hasPrefix("/callbacks/") {
                // Plivo's callbacks prove themselves by signature, not by API key.
                return try await route(request, in: callbackRouter, account: "", requestID: requestID, matched: &matched)
            }
            guard path == "/v1" || path.hasPrefix("/v1/") else {
                throw APIError.notFound("no route for \(request.method) \(path)")
            }
            let account = try authenticate(request)
            if let wait = rateLimiter?.admit(account) {
                throw APIError(429, "rate_limited", "too many requests for this API key; retry after the delay in Retry-After",
                               headers: [("Retry-After", String(max(1, Int(wait.rounded(.up)))))])
            }
            return try await route(request, in: router, account: account, requestID: requestID, matched: &matched)
        } catch let error as APIError {
            return error.response
        } catch {
            logger.error("request_failed", ["request_id": requestID, "error": "\(error)"])
            return APIError(500, "internal_error", "internal error").response
        }
    }

    private func route(_ request: HTTPRequest, in router: Router, account: String, requestID: String, matched: inout String?) async throws -> HTTPResponse {
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            throw APIError.notFound("no route for \(request.method) \(request.path)")
        case .methodNotAllowed(let allowed):
            throw APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))",
                           headers: [("Allow", allowed.joined(separator: ", "))])
        case .found(let handler, let parameters, let pattern):
            matched = pattern
            guard let query = parseQuery(request.query) else {
                throw APIError(400, "bad_request", "the query string is malformed or repeats a parameter")
            }
            let idempotency = try IdempotencyRequest.from(request)
            var response = try await handler(RequestContext(request: request, account: account, parameters: parameters, query: query,
                                                            requestID: requestID, idempotency: idempotency))
            if idempotency?.replayed == true { response.headers.append(("Idempotent-Replayed", "true")) }
            return response
        }
    }

    /// The gateway's metrics and, when it answers, the manager's.
    private func metricsResponse(_ request: HTTPRequest) async -> HTTPResponse {
        if let token = metricsToken, request.header("Authorization") != "Bearer \(token)" {
            return APIError(401, "unauthorized", "metrics need Authorization: Bearer <RYMI_METRICS_TOKEN>",
                            headers: [("WWW-Authenticate", "Bearer realm=\"rymi-metrics\"")]).response
        }
        var text = metrics.registry.render()
        let managerText = try? await manager.call(GetMetrics(), timeout: 2).text
        text += MetricsRegistry.gaugeText("rymi_manager_up", help: "Whether the manager answered this scrape.", [([:], managerText == nil ? 0 : 1)])
        text += managerText ?? ""
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(text.utf8))
    }

    /// The operator-only listener: metrics, readiness with details, liveness. Not counted in the
    /// request metrics (scrapes would count themselves).
    func handleAdmin(_ request: HTTPRequest) async -> HTTPResponse {
        var response: HTTPResponse
        switch (request.path, request.method) {
        case ("/metrics", "GET"):
            response = await metricsResponse(request)
        case ("/readyz", "GET"), ("/readyz", "HEAD"):
            response = await readiness()
        case ("/healthz", "GET"), ("/healthz", "HEAD"):
            response = Self.alive
        default:
            response = APIError.notFound("the admin listener serves GET /metrics, /readyz and /healthz").response
        }
        response.headers.append(("X-Request-Id", Self.requestID(request)))
        return response
    }

    /// Readiness for anyone who can reach the API (load balancers): the status alone. Which
    /// dialers are connected and how many calls are live is for the admin listener.
    private func publicReadiness() async -> HTTPResponse {
        guard (try? await manager.call(GetDispatchStatus(), timeout: 2)) != nil else { return Self.unready }
        return Self.ready
    }

    static let ready = HTTPResponse.json(200, .object([("status", .string("ready"))]))
    static let unready = HTTPResponse.json(503, .object([("status", .string("unavailable"))]))

    /// Ready when the manager answers; reports the dialers connected to it.
    private func readiness() async -> HTTPResponse {
        guard let status = try? await manager.call(GetDispatchStatus(), timeout: 2) else {
            return .json(503, .object([("status", .string("manager_unreachable")), ("manager", .bool(false))]))
        }
        return .json(200, .object([
            ("status", .string("ready")), ("manager", .bool(true)),
            ("dialers", .array(status.dialers.map(JSONValue.string))),
            ("live_calls", .int(status.liveCalls)),
        ]))
    }

    private func authenticate(_ request: HTTPRequest) throws(APIError) -> String {
        guard let header = request.header("Authorization") else {
            throw APIError(401, "unauthorized", "missing API key: send Authorization: Bearer <key>",
                           headers: [("WWW-Authenticate", "Bearer realm=\"rymi\"")])
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", let account = apiKeys.account(forKey: parts[1].trimmingCharacters(in: " ")) else {
            throw APIError(401, "unauthorized", "invalid API key",
                           headers: [("WWW-Authenticate", "Bearer realm=\"rymi\", error=\"invalid_token\"")])
        }
        return account
    }

    /// The client's `X-Request-Id` when it is a sane token, otherwise a fresh one.
    static func requestID(_ request: HTTPRequest) -> String {
        if let given = request.header("X-Request-Id"), (1...128).contains(given.utf8.count),
           given.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }) {
            return given
        }
        let (high, low) = RequestIDs.shared.next()
        let highText = String(high, radix: 16), lowText = String(low, radix: 16)
        return "req_" + String(repeating: "0", count: 16 - highText.count) + highText + String(repeating: "0", count: 8 - lowText.count) + lowText
    }
}

/// Request ids: unique, not secret, so a seeded generator (SplitMix64) rather than a getrandom
/// call per request.
final class RequestIDs: @unchecked Sendable {
    static let shared = RequestIDs()
    private let lock = NSLock()
    private var state: UInt64

    init() {
        var seed = SystemRandomNumberGenerator()
        state = seed.next()
    }

    func next() -> (UInt64, UInt32) {
        lock.withLock {
            (Self.mix(&state), UInt32(truncatingIfNeeded: Self.mix(&state)))
        }
    }

    private static func mix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
