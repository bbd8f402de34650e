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
}
