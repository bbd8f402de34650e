import HTTP1
import JSON
import Protocol
import Resources

/// Webhook endpoints (`/v1/webhooks…`): where an account's events are sent, signed with a
/// secret shown only when it is made or rotated, and what became of each delivery.
struct WebhooksAPI: Sendable {
    let campaigns: CampaignAPI
    /// Where endpoints may point (`RYMI_WEBHOOK_ALLOW_HTTP_HOSTS`).
    let policy: OutboundURLPolicy

    func register(in router: inout Router) {
        router.add("POST", "/v1/webhooks", add)
        router.add("GET", "/v1/webhooks", list)
        router.add("DELETE", "/v1/webhooks/:id", remove)
        router.add("POST", "/v1/webhooks/:id/rotate-secret", rotate)
        router.add("GET", "/v1/webhooks/:id/deliveries", deliveries)
        router.add("POST", "/v1/webhooks/:id/deliveries/:event_id/redeliver", redeliver)
    }

    @Sendable func add(_ context: RequestContext) async throws -> HTTPResponse {
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: ["url", "events"])
        let url = reader.string("url", required: true)
        if let url, let problem = policy.problem(url) { reader.fail("url", problem) }
        var events: [String] = []
        if let value = reader.value("events"), value != .null {
            if let items = value.arrayValue, !items.isEmpty, items.allSatisfy({ $0.stringValue.map(WebhookEndpoint.eventTypes.contains) == true }) {
                events = Array(Set(items.compactMap(\.stringValue))).sorted()
            } else {
                reader.fail("events", "must be a non-empty array of event types: \(WebhookEndpoint.eventTypes.joined(separator: ", "))")
            }
        }
        guard reader.errors.isEmpty, let url else { throw APIError.invalid(reader.errors) }
        let endpoint = try await campaigns.ask(AddWebhook(account: context.account, url: url, events: events), context)
        return .json(201, Self.render(endpoint), headers: [("Location", "/v1/webhooks/\(endpoint.id)")])
    }

    @Sendable func list(_ context: RequestContext) async throws -> HTTPResponse {
        try context.refuseQueryParameters()
        let list = try await campaigns.ask(ListWebhooks(account: context.account), context)
        return .json(200, .object([("webhooks", .array(list.webhooks.map(Self.render)))]))
    }

    @Sendable func remove(_ context: RequestContext) async throws -> HTTPResponse {
        let id = context.parameters[0]
        _ = try await campaigns.ask(RemoveWebhook(account: context.account, webhookID: id), context)
        return .json(200, .object([("status", .string("deleted")), ("id", .string(id))]))
    }

    @Sendable func rotate(_ context: RequestContext) async throws -> HTTPResponse {
        .json(200, Self.render(try await campaigns.ask(RotateWebhookSecret(account: context.account, webhookID: context.parameters[0]), context)))
    }

    @Sendable func deliveries(_ context: RequestContext) async throws -> HTTPResponse {
        var query = context.query
        let status = query.removeValue(forKey: "status")
        if let status, !["pending", "delivered", "failed"].contains(status) {
            throw APIError.invalid([FieldError("status", "must be pending, delivered or failed")])
        }
        let (limit, cursor) = try campaigns.pagination(query, allowed: ["limit", "cursor"], cursorKind: "dlv")
        let page = try await campaigns.ask(ListDeliveries(account: context.account, webhookID: context.parameters[0], status: status,
                                                          limit: limit, before: cursor), context)
        return .json(200, .object([
            ("deliveries", .array(page.deliveries.map(Self.render))),
            ("next_cursor", Cursor.encode(kind: "dlv", position: page.nextBefore)),
        ]))
    }

    @Sendable func redeliver(_ context: RequestContext) async throws -> HTTPResponse {
        let request = Redeliver(account: context.account, webhookID: context.parameters[0], eventID: context.parameters[1])
        return .json(202, Self.render(try await campaigns.ask(request, context)))
    }

    static func render(_ endpoint: WebhookEndpoint) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string(endpoint.id)), ("url", .string(endpoint.url)),
            // No list is every event type, those added later included.
            ("events", .array((endpoint.events.isEmpty ? WebhookEndpoint.eventTypes : endpoint.events).map(JSONValue.string))),
            ("all_events", .bool(endpoint.events.isEmpty)),
            ("created_at", Render.time(endpoint.createdAt)),
            ("disabled_at", endpoint.disabledAt.map(Render.time) ?? .null),
            ("disabled_reason", endpoint.disabledReason.map(JSONValue.string) ?? .null),
        ]
        if let secret = endpoint.secret { members.append(("secret", .string(secret))) }
        return .object(members)
    }

    static func render(_ delivery: WebhookDelivery) -> JSONValue {
        func time(_ value: Int64?) -> JSONValue { value.map(Render.time) ?? .null }
        return .object([
            ("event_id", .string(delivery.eventID)), ("event_type", .string(delivery.eventType)), ("status", .string(delivery.status)),
            ("attempts", .int(delivery.attempts)), ("last_status_code", delivery.lastStatusCode.map(JSONValue.int) ?? .null),
            ("last_latency_ms", delivery.lastLatencyMilliseconds.map(JSONValue.int) ?? .null),
            ("last_error", delivery.lastError.map(JSONValue.string) ?? .null), ("last_attempt_at", time(delivery.lastAttemptAt)),
            ("next_attempt_at", time(delivery.nextAttemptAt)), ("delivered_at", time(delivery.deliveredAt)),
            ("created_at", Render.time(delivery.createdAt)),
        ])
    }
}
