import Runtime

/// What the manager counts: placements, call results, commits.
struct ManagerMetrics: Sendable {
    let registry = MetricsRegistry()
    let offers: Counter
    let placements: Counter
    let results: Counter
    let queuedCallsStopped: Counter
    let webhookDeliveries: Counter
    let commitSeconds: Histogram
    let commitBatch: Histogram

    init() {
        offers = registry.counter("rymi_call_offers_total", help: "Calls offered to dialers.")
        placements = registry.counter("rymi_call_placements_total", help: "Plivo call requests by outcome (accepted, queued, refused, not_placed, auth_rejected, uncertain, skipped_dnc).")
        results = registry.counter("rymi_call_results_total", help: "Contacts reaching a final status, by status and failure reason.")
        queuedCallsStopped = registry.counter("rymi_queued_calls_stopped_total",
                                              help: "Calls Plivo held queued that were asked to be canceled, by answer (canceled, or started first) and reason.")
        webhookDeliveries = registry.counter("rymi_webhook_deliveries_total", help: "Webhook delivery attempts by outcome (delivered, retrying, failed).")
        commitSeconds = registry.histogram("rymi_sqlite_commit_seconds", help: "Latency of SQLite write transactions (group commits).")
        commitBatch = registry.histogram("rymi_sqlite_commit_writes", help: "Writes sharing one SQLite commit.", buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500])
    }
}
