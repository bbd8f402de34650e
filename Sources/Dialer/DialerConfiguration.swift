import Foundation
import Plivo
import Protocol
import RPC
import Runtime

/// Configuration of `rymi-dialer`, from the environment.
public struct DialerConfiguration: Sendable {
    public var managerAddress: HostPort
    /// Proves to the manager that this is a dialer; a manager that cannot prove it back gets no call placed.
    public var managerSecret: [UInt8]
    /// Logged at start: a short secret.
    public var secretWarnings: [String] = []
    public var plivo: PlivoAccount
    public var plivoTimeout: Double
    public var publicURL: String
    public var name: String
    public var slots: Int
    public var ringTimeout: Int
    public var timeLimit: Int
    public var logLevel: Logger.Level
    /// Where the dialer notes that it is alive and connected, for `--health-check`.
    public var statusFile: String

    public init(environment: Environment) throws(ConfigurationError) {
        managerAddress = try environment.address("RYMI_MANAGER_ADDR", default: "127.0.0.1:7070")
        managerSecret = try environment.secret("RYMI_DIALER_SECRET")
        secretWarnings = WireAuthentication.weaknesses([("RYMI_DIALER_SECRET", managerSecret)])
        guard let authID = try environment.string("PLIVO_AUTH_ID") else {
            throw ConfigurationError("PLIVO_AUTH_ID", "not set; give the Plivo account's auth id (make run starts a simulator with its own)")
        }
        guard let authToken = try environment.stringOrGenerated("PLIVO_AUTH_TOKEN", make: { GeneratedSecrets.randomHex() })?.value else {
            throw ConfigurationError("PLIVO_AUTH_TOKEN", "not set; give the Plivo account's auth token")
        }
        let apiURL = try environment.string("PLIVO_API_URL") ?? "https://api.plivo.com"
        let allowInsecureHTTP = try Self.flag(environment, "PLIVO_ALLOW_INSECURE_HTTP")
        if let problem = PlivoAccount.apiURLProblem(apiURL, allowInsecureHTTP: allowInsecureHTTP) {
            throw ConfigurationError("PLIVO_API_URL", problem)
        }
        plivo = PlivoAccount(apiURL: apiURL, authID: authID, authToken: authToken)
        plivoTimeout = try environment.seconds("PLIVO_TIMEOUT", default: 10, range: 0.5...120)
        // The same rule as the gateway's, so callback URLs and signature checks agree.
        guard let publicURL = try PublicURL.resolve(environment) else {
            throw ConfigurationError("RYMI_PUBLIC_URL", "not set and RYMI_HTTP_ADDR's port is 0; give the URL Plivo calls the gateway on")
        }
        self.publicURL = publicURL
        name = try environment.string("RYMI_DIALER_NAME") ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        guard PeerRole.isValidName(name) else {
            throw ConfigurationError("RYMI_DIALER_NAME", "'\(name)' is not 1–128 letters, digits and - _ . : @")
        }
        slots = try environment.integer("RYMI_DIALER_SLOTS", default: 32, range: 1...RegisterDialer.maxSlots)
        ringTimeout = try environment.integer("RYMI_RING_TIMEOUT", default: 45, range: 5...120)
        timeLimit = try environment.integer("RYMI_CALL_TIME_LIMIT", default: 3600, range: 60...14_400)
        logLevel = try environment.logLevel()
        statusFile = try Self.statusFile(environment)
    }

    /// `1`/`true`/`yes` or `0`/`false`/`no`; unset is false.
    static func flag(_ environment: Environment, _ name: String) throws(ConfigurationError) -> Bool {
        guard let value = try environment.string(name) else { return false }
        switch value.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw ConfigurationError(name, "'\(value)' is not 1 or 0")
        }
    }

    public static func statusFile(_ environment: Environment) throws(ConfigurationError) -> String {
        try environment.string("RYMI_STATUS_FILE") ?? "/tmp/rymi-dialer.status"
    }
}
