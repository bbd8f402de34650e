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
    let manager: RPCClient
    private let logger: Logger

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.logger = logger
        let manager = RPCClient(address: configuration.managerAddress, role: "gateway", name: "gateway-\(getpid())", logger: logger)
        self.manager = manager
        var router = Router()
        CampaignAPI(manager: manager, maxContactsPerUpload: configuration.maxContactsPerUpload).register(in: &router)
        let frontDoor = FrontDoor(router: router, apiKeys: configuration.apiKeys, manager: manager, logger: logger)
        var httpConfiguration = HTTPServerConfiguration()
        httpConfiguration.limits = HTTPLimits(maxBodyBytes: configuration.maxBodyBytes)
        httpConfiguration.headTimeout = configuration.headTimeout
        httpConfiguration.idleTimeout = configuration.idleTimeout
        http = try HTTPServer(address: configuration.httpAddress, configuration: httpConfiguration, logger: logger) { request in
            await frontDoor.handle(request)
        }
        logger.info("listening", ["addr": http.localAddress.description, "manager": configuration.managerAddress.description])
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.manager.run() }
            group.addTask { try await self.http.run() }
            try await group.waitForAll()
        }
    }

    public func shutdown() async {
        await http.shutdown()
        await manager.shutdown()
    }
}

/// Everything every request goes through: request id, health, authentication, routing, and
/// turning any failure into the one error shape.
struct FrontDoor: Sendable {
    let router: Router
    let apiKeys: APIKeys
    let manager: RPCClient
    let logger: Logger

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let requestID = Self.requestID(request)
        var response = await respond(request, requestID: requestID)
        response.headers.append(("X-Request-Id", requestID))
        return response
    }

    private func respond(_ request: HTTPRequest, requestID: String) async -> HTTPResponse {
        let path = request.path
        if path == "/healthz", request.method == "GET" || request.method == "HEAD" {
            return .json(200, .object([("status", .string("ok"))]))
        }
        if path == "/readyz", request.method == "GET" || request.method == "HEAD" {
            let ready = manager.isConnected
            return .json(ready ? 200 : 503, .object([
                ("status", .string(ready ? "ready" : "manager_unreachable")),
                ("manager", .bool(ready)),
            ]))
        }
        guard path == "/v1" || path.hasPrefix("/v1/") else {
            return APIError.notFound("no route for \(request.method) \(path)").response
        }
        do {
            let account = try authenticate(request)
            switch router.match(method: request.method, path: path) {
            case .notFound:
                throw APIError.notFound("no route for \(request.method) \(path)")
            case .methodNotAllowed(let allowed):
                throw APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))",
                               headers: [("Allow", allowed.joined(separator: ", "))])
            case .found(let handler, let parameters):
                guard let query = parseQuery(request.query) else {
                    throw APIError(400, "bad_request", "the query string is malformed or repeats a parameter")
                }
                let context = RequestContext(request: request, account: account, parameters: parameters, query: query, requestID: requestID)
                return try await handler(context)
            }
        } catch let error as APIError {
            return error.response
        } catch {
            logger.error("request_failed", ["request_id": requestID, "error": "\(error)"])
            return APIError(500, "internal_error", "internal error").response
        }
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
        return "req_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
    }
}
