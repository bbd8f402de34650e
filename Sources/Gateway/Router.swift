import HTTP1

/// What a handler gets: the request, who sent it, the path parameters and the query.
struct RequestContext: Sendable {
    let request: HTTPRequest
    let account: String
    let parameters: [String]
    let query: [String: String]
    let requestID: String
    /// The request's `Idempotency-Key`, when it is a `POST` that came with one.
    var idempotency: IdempotencyRequest? = nil
}

typealias RouteHandler = @Sendable (RequestContext) async throws -> HTTPResponse

/// Method + path pattern → handler. `:name` segments capture, in order, into `parameters`.
struct Router: Sendable {
    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [String]
        let handler: RouteHandler
    }

    enum Match {
        case found(RouteHandler, parameters: [String], pattern: String)
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private var routes: [Route] = []

    mutating func add(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        routes.append(Route(method: method, pattern: pattern, segments: pattern.split(separator: "/").map(String.init), handler: handler))
    }

    /// The route pattern a path belongs to (any method), for metrics; nil when none.
    func pattern(for path: Substring) -> String? {
        guard let segments = Self.segments(of: path) else { return nil }
        return routes.first { Self.capture($0.segments, segments) != nil }?.pattern
    }

    func match(method: String, path: Substring) -> Match {
        guard let segments = Self.segments(of: path) else { return .notFound }
        var allowed: [String] = []
        for route in routes {
            guard let parameters = Self.capture(route.segments, segments) else { continue }
            // HEAD is GET without the body (RFC 9110 §9.3.2).
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route.handler, parameters: parameters, pattern: route.pattern)
            }
            allowed.append(route.method)
            if route.method == "GET" { allowed.append("HEAD") }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    private static func capture(_ pattern: [String], _ segments: [String]) -> [String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String] = []
        for (expected, actual) in zip(pattern, segments) {
            if expected.hasPrefix(":") {
                parameters.append(actual)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }

    /// Path segments, percent-decoded; a trailing slash is ignored. nil for undecodable paths.
    static func segments(of path: Substring) -> [String]? {
        var result: [String] = []
        for raw in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let segment = Substring(raw)
            if !raw.contains(UInt8(ascii: "%")) {
                result.append(String(segment))
                continue
            }
            guard let decoded = FormEncoding.percentDecode(segment, plusIsSpace: false), !decoded.isEmpty else { return nil }
            result.append(decoded)
        }
        return result
    }
}

/// `a=1&b=2` into a dictionary; nil when a key repeats or does not decode.
func parseQuery(_ query: Substring?) -> [String: String]? {
    guard let query, !query.isEmpty else { return [:] }
    guard let pairs = FormEncoding.decodePairs(query) else { return nil }
    var result: [String: String] = [:]
    for (key, value) in pairs {
        guard result[key] == nil else { return nil }
        result[key] = value
    }
    return result
}
