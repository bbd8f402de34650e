import Foundation
import HTTP1
import Plivo
import Protocol
import RPC
import Runtime
import Transport

/// Configuration of `rymi-gateway`, from the environment (the README's table).
public struct GatewayConfiguration: Sendable {
    public var httpAddress: HostPort
    /// The operator-only listener: `/metrics` and `/readyz` with details. Keep it off the public network.
    public var adminAddress: HostPort
    /// Whether `adminAddress` is our default rather than the operator's choice.
    public var adminAddressIsDefault = true
    public var managerAddress: HostPort
    /// Proves to the manager that this is a gateway, and lets this gateway check the manager.
    public var managerSecret: [UInt8]
    /// Logged at start: a short secret.
    public var secretWarnings: [String] = []
    public var apiKeys: APIKeys
    /// The keys made for a deployment with nothing set up (`RYMI_SECRETS_DIR`): logged at start,
    /// since the operator has no other way to learn them.
    public var generatedAPIKeys: String?
    public var maxBodyBytes: Int
    public var maxContactsPerUpload: Int
    /// A CSV upload is streamed: these bound its size and rows, not the gateway's memory.
    public var maxCSVBytes: Int
    public var maxCSVContacts: Int
    /// Test-only: the shortest redial delay a retry policy may ask for (60 s otherwise).
    public var minimumRetryDelay: Int
    /// Where webhook endpoints may point: `RYMI_WEBHOOK_ALLOW_HTTP_HOSTS` may plain http and
    /// internal addresses (the demo's receiver, tests).
    public var webhookPolicy: OutboundURLPolicy
    public var headTimeout: Double
    public var idleTimeout: Double
    /// Absolute deadline for a request body, from the end of its head.
    public var bodyTimeout: Double
    /// Request bodies held at once across all connections.
    public var bodyBudgetBytes: Int
    /// Connections open at once from one client address.
    public var maxConnectionsPerAddress: Int
    /// Seconds a connection's unsent answers may stand still before it is closed.
    public var writeStallTimeout: Double
    public var logLevel: Logger.Level
    /// Verifies Plivo's callback signatures; without it every callback is refused.
    public var plivoAuthToken: String?
    /// The base URL Plivo calls back on; signatures cover it, so it must be what Plivo used, which
    /// is what the dialers put in their call requests: both resolve it with `PublicURL.resolve`
    /// (unset: `http://` + RYMI_HTTP_ADDR, a wildcard host read as 127.0.0.1). Nil only when
    /// RYMI_HTTP_ADDR's port is 0 (tests): then the address the gateway bound.
    public var publicURL: String?
    /// Where answered calls are streamed to the agent; without it callees hear a greeting.
    public var agentStreamURL: String?
    /// Requests per second per account (0 = unlimited), and how many may come at once.
    public var rateLimit: Double
    public var rateBurst: Double
    /// When set, `/metrics` needs it as a Bearer token.
    public var metricsToken: String?

    public init(environment: Environment) throws(ConfigurationError) {
        httpAddress = try environment.address("RYMI_HTTP_ADDR", default: "127.0.0.1:8080")
        // Unset, the admin listener takes 9464 on loopback; beside an ephemeral API port (tests,
        // several gateways on one host) an ephemeral one, so gateways never fight over it.
        adminAddressIsDefault = try environment.string("RYMI_ADMIN_ADDR") == nil
        adminAddress = try environment.address("RYMI_ADMIN_ADDR", default: httpAddress.port == 0 ? "127.0.0.1:0" : "127.0.0.1:9464")
        managerAddress = try environment.address("RYMI_MANAGER_ADDR", default: "127.0.0.1:7070")
        managerSecret = try environment.secret("RYMI_GATEWAY_SECRET")
        secretWarnings = WireAuthentication.weaknesses([("RYMI_GATEWAY_SECRET", managerSecret)])
        // With nothing set up (RYMI_SECRETS_DIR), one account `demo` with a key made here.
        guard let keys = try environment.stringOrGenerated("RYMI_API_KEYS", make: { "demo:key_" + GeneratedSecrets.randomHex(bytes: 24) }) else {
            throw ConfigurationError("RYMI_API_KEYS", "not set; give at least one account:key pair")
        }
        apiKeys = try APIKeys(parsing: keys.value)
        generatedAPIKeys = keys.generated ? keys.value : nil
        maxBodyBytes = try environment.integer("RYMI_MAX_BODY_BYTES", default: 64 * 1024 * 1024, range: 1024...1024 * 1024 * 1024)
        maxContactsPerUpload = try environment.integer("RYMI_MAX_CONTACTS_PER_UPLOAD", default: 100_000, range: 1...10_000_000)
        maxCSVBytes = try environment.integer("RYMI_MAX_CSV_BYTES", default: 256 * 1024 * 1024, range: 1024...4 * 1024 * 1024 * 1024)
        maxCSVContacts = try environment.integer("RYMI_MAX_CSV_CONTACTS", default: 1_000_000, range: 1...1_000_000)
        minimumRetryDelay = try environment.integer("RYMI_TEST_MIN_RETRY_DELAY_SECONDS", default: 60, range: 1...60)
        webhookPolicy = OutboundURLPolicy(hostList: try environment.string("RYMI_WEBHOOK_ALLOW_HTTP_HOSTS"))
        headTimeout = try environment.seconds("RYMI_HTTP_HEADER_TIMEOUT", default: 10, range: 0.1...600)
        idleTimeout = try environment.seconds("RYMI_HTTP_IDLE_TIMEOUT", default: 75, range: 0.1...3600)
        bodyTimeout = try environment.seconds("RYMI_HTTP_BODY_TIMEOUT", default: 60, range: 0.1...3600)
        bodyBudgetBytes = try environment.integer("RYMI_HTTP_BODY_BUDGET_BYTES", default: 256 * 1024 * 1024, range: 1024...64 * 1024 * 1024 * 1024)
        maxConnectionsPerAddress = try environment.integer("RYMI_HTTP_MAX_CONNECTIONS_PER_ADDR", default: 256, range: 1...1_000_000)
        writeStallTimeout = try environment.seconds("RYMI_HTTP_WRITE_STALL_TIMEOUT", default: 30, range: 0.1...3600)
        logLevel = try environment.logLevel()
        plivoAuthToken = try environment.stringOrGenerated("PLIVO_AUTH_TOKEN", make: { GeneratedSecrets.randomHex() })?.value
        publicURL = try PublicURL.resolve(environment)
        metricsToken = try environment.stringOrGenerated("RYMI_METRICS_TOKEN", make: { GeneratedSecrets.randomHex(bytes: 24) })?.value
        rateLimit = try environment.seconds("RYMI_RATE_LIMIT", default: 200, range: 0...1_000_000)
        rateBurst = try environment.seconds("RYMI_RATE_BURST", default: max(1, rateLimit * 2), range: 1...10_000_000)
        agentStreamURL = try environment.string("RYMI_AGENT_STREAM_URL")
        if let stream = agentStreamURL, !(stream.hasPrefix("wss://") || stream.hasPrefix("ws://")) {
            throw ConfigurationError("RYMI_AGENT_STREAM_URL", "'\(stream)' is not a ws:// or wss:// URL")
        }
    }
}
