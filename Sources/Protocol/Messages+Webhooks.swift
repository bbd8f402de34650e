// Messages of the results going out: webhook endpoints and their deliveries (gateway → manager).

/// An account's webhook endpoint, as the API shows it (its secret only when it is made or rotated).
public struct WebhookEndpoint: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    /// The event types it receives; empty for all.
    public var events: [String]
    public var createdAt: Int64
    /// Set only in the answers that create it or rotate its secret.
    public var secret: String?
    /// Why it was disabled (failing for 24 hours), and when.
    public var disabledAt: Int64?
    public var disabledReason: String?

    public init(id: String, url: String, events: [String], createdAt: Int64, secret: String? = nil, disabledAt: Int64? = nil,
                disabledReason: String? = nil) {
        self.id = id
        self.url = url
        self.events = events
        self.createdAt = createdAt
        self.secret = secret
        self.disabledAt = disabledAt
        self.disabledReason = disabledReason
    }

    /// Every event type there is.
    public static let eventTypes = [
        "campaign.started", "campaign.paused", "campaign.resumed", "campaign.completed", "campaign.canceled",
        "contact.dialed", "contact.answered", "contact.completed", "contact.failed", "contact.skipped_dnc",
        "contact.retry_scheduled", "contact.opted_out", "contact.canceled", "contact.expired",
    ]
}

public struct AddWebhook: GatewayRequest {
    public static let type = "webhook.add"
    public typealias Reply = WebhookEndpoint

    public var account: String
    public var url: String
    public var events: [String]

    public init(account: String, url: String, events: [String]) {
        self.account = account
        self.url = url
        self.events = events
    }
}

public struct ListWebhooks: GatewayRequest {
    public static let type = "webhook.list"
    public typealias Reply = WebhookList

    public var account: String

    public init(account: String) {
        self.account = account
    }
}

public struct WebhookList: Codable, Sendable, Equatable {
    public var webhooks: [WebhookEndpoint]

    public init(webhooks: [WebhookEndpoint]) {
        self.webhooks = webhooks
    }
}

/// A request about one of the account's endpoints.
public protocol WebhookActionKind: Sendable {
    static var type: String { get }
    associatedtype Reply: Codable & Sendable
}

public struct WebhookAction<Kind: WebhookActionKind>: GatewayRequest {
    public static var type: String { Kind.type }
    public typealias Reply = Kind.Reply

    public var account: String
    public var webhookID: String

    public init(account: String, webhookID: String) {
        self.account = account
        self.webhookID = webhookID
    }
}

public enum RemoveWebhookKind: WebhookActionKind {
    public static let type = "webhook.remove"
    public typealias Reply = Empty
}

/// A new secret; the old one still signs deliveries for 24 hours.
public enum RotateWebhookSecretKind: WebhookActionKind {
    public static let type = "webhook.rotate"
    public typealias Reply = WebhookEndpoint
}

public typealias RemoveWebhook = WebhookAction<RemoveWebhookKind>
public typealias RotateWebhookSecret = WebhookAction<RotateWebhookSecretKind>

/// An event's delivery to one endpoint.
public struct WebhookDelivery: Codable, Sendable, Equatable {
    public var eventID: String
    public var eventType: String
    /// `pending`, `delivered` or `failed`.
    public var status: String
    public var attempts: Int
    public var lastStatusCode: Int?
    public var lastLatencyMilliseconds: Int?
    public var lastError: String?
    public var lastAttemptAt: Int64?
    public var nextAttemptAt: Int64?
    public var deliveredAt: Int64?
    public var createdAt: Int64

    public init(eventID: String, eventType: String, status: String, attempts: Int, lastStatusCode: Int?, lastLatencyMilliseconds: Int?,
                lastError: String?, lastAttemptAt: Int64?, nextAttemptAt: Int64?, deliveredAt: Int64?, createdAt: Int64) {
        self.eventID = eventID
        self.eventType = eventType
        self.status = status
        self.attempts = attempts
        self.lastStatusCode = lastStatusCode
        self.lastLatencyMilliseconds = lastLatencyMilliseconds
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
        self.nextAttemptAt = nextAttemptAt
        self.deliveredAt = deliveredAt
        self.createdAt = createdAt
    }
}

/// Newest first; `before` is the last event position of the previous page.
public struct ListDeliveries: GatewayRequest {
    public static let type = "webhook.deliveries"
    public typealias Reply = DeliveryPage

    public var account: String
    public var webhookID: String
    public var status: String?
    public var limit: Int
    public var before: Int64?

    public init(account: String, webhookID: String, status: String?, limit: Int, before: Int64?) {
        self.account = account
        self.webhookID = webhookID
        self.status = status
        self.limit = limit
        self.before = before
    }
}

public struct DeliveryPage: Codable, Sendable, Equatable {
    public var deliveries: [WebhookDelivery]
    public var nextBefore: Int64?

    public init(deliveries: [WebhookDelivery], nextBefore: Int64?) {
        self.deliveries = deliveries
        self.nextBefore = nextBefore
    }
}

/// Sends one event to the endpoint again, now, whatever became of it before.
public struct Redeliver: GatewayRequest {
    public static let type = "webhook.redeliver"
    public typealias Reply = WebhookDelivery

    public var account: String
    public var webhookID: String
    public var eventID: String

    public init(account: String, webhookID: String, eventID: String) {
        self.account = account
        self.webhookID = webhookID
        self.eventID = eventID
    }
}
