import Runtime

/// What the gateway counts: requests by route and status, their latency, refused callbacks.
struct GatewayMetrics: Sendable {
    let registry = MetricsRegistry()
    let requests: Counter
    let latency: Histogram
    let signatureFailures: Counter

    init() {
        requests = registry.counter("rymi_http_requests_total", help: "HTTP requests by method, route and status.")
        latency = registry.histogram("rymi_http_request_duration_seconds", help: "HTTP request latency by route.")
        signatureFailures = registry.counter("rymi_callback_signature_failures_total", help: "Plivo callbacks refused for a bad or missing signature.")
    }

    /// The method as a metric label: one of the methods HTTP defines, else `other`. A label
    /// value makes a series that lives as long as the process, so none may come from a client
    /// unchecked (distinct 4 KB methods once grew the gateway by 115 MB). Static strings: no
    /// allocation on the hot path.
    static func methodLabel(_ method: String) -> String {
        switch method {
        case "GET": return "GET"
        case "HEAD": return "HEAD"
        case "POST": return "POST"
        case "PUT": return "PUT"
        case "DELETE": return "DELETE"
        case "PATCH": return "PATCH"
        case "OPTIONS": return "OPTIONS"
        case "TRACE": return "TRACE"
        case "CONNECT": return "CONNECT"
        default: return "other"
        }
    }

    /// The status as a label: always a three-digit number we chose.
    static func statusLabel(_ status: Int) -> String {
        (100...599).contains(status) ? String(status) : "other"
    }
}
