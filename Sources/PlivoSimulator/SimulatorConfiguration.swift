import Foundation
import Plivo
import Runtime

/// How the simulated Plivo behaves: who may call it, how calls end, and which faults it injects.
public struct SimulatorConfiguration: Sendable {
    public var address: HostPort
    public var authID: String
    public var authToken: String
    public var ringMilliseconds: Int
    public var talkMilliseconds: Int
    /// Outcomes by weight, chosen per destination number (so a number always ends the same way).
    public var outcomes: [(status: String, weight: Int)]
    public var faults: Faults
    public var callbackRetries: Int
    /// Plivo's own call-rate queue: calls above this rate are "queued" and start later; 0 = none.
    public var callsPerSecond: Double
    /// Numbers ending in one of these digits are answered by a machine (voicemail): always
    /// answered, and reported as `Machine=true` when the request asked for detection.
    public var machineDigits: Set<Character>
    public var logLevel: Logger.Level
    /// When set, the `/sim/*` control endpoints need `Authorization: Bearer <token>`.
    public var controlToken: String?

    /// Who may use the `/sim/*` control endpoints (what was dialed, fault injection).
    public enum ControlAccess: Sendable, Equatable {
        /// Anyone who reaches the listener: it is on loopback, so only this machine.
        case loopbackListener
        /// Only requests bearing `RYMI_SIM_CONTROL_TOKEN`.
        case token(String)
        /// Nobody: the listener is beyond loopback and no token is set.
        case disabled
    }

    public var controlAccess: ControlAccess {
        if let controlToken { return .token(controlToken) }
        return PlivoAccount.isLoopback(address.host) ? .loopbackListener : .disabled
    }

    public init(environment: Environment) throws(ConfigurationError) {
        address = try environment.address("RYMI_SIM_ADDR", default: "127.0.0.1:9090")
        controlToken = try environment.stringOrGenerated("RYMI_SIM_CONTROL_TOKEN", make: { GeneratedSecrets.randomHex(bytes: 24) })?.value
        if let token = controlToken, token.count < 16 {
            throw ConfigurationError("RYMI_SIM_CONTROL_TOKEN", "is \(token.count) characters; use at least 16")
        }
        guard let authID = try environment.string("PLIVO_AUTH_ID"), let authToken = try environment.stringOrGenerated("PLIVO_AUTH_TOKEN", make: { GeneratedSecrets.randomHex() })?.value else {
            throw ConfigurationError("PLIVO_AUTH_ID", "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set: the simulator checks them like Plivo")
        }
        self.authID = authID
        self.authToken = authToken
        ringMilliseconds = try environment.integer("RYMI_SIM_RING_MS", default: 300, range: 0...600_000)
        talkMilliseconds = try environment.integer("RYMI_SIM_TALK_MS", default: 1000, range: 0...3_600_000)
        outcomes = try Self.parseOutcomes(try environment.string("RYMI_SIM_OUTCOMES") ?? "completed=80,busy=8,no-answer=8,failed=4")
        faults = try Faults(parsing: try environment.string("RYMI_SIM_FAULTS") ?? "", variable: "RYMI_SIM_FAULTS")
        callbackRetries = try environment.integer("RYMI_SIM_CALLBACK_RETRIES", default: 3, range: 0...20)
        callsPerSecond = try environment.seconds("RYMI_SIM_CPS", default: 0, range: 0...100_000)
        let digits = try environment.string("RYMI_SIM_MACHINE_DIGITS") ?? "9"
        guard digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) else {
            throw ConfigurationError("RYMI_SIM_MACHINE_DIGITS", "must be digits (numbers ending in one are answered by a machine), or empty for none")
        }
        machineDigits = Set(digits)
        logLevel = try environment.logLevel()
    }

    static let knownOutcomes: Set<String> = ["completed", "busy", "no-answer", "failed", "timeout", "cancel"]

    static func parseOutcomes(_ text: String) throws(ConfigurationError) -> [(status: String, weight: Int)] {
        var outcomes: [(status: String, weight: Int)] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "=")
            guard pieces.count == 2, knownOutcomes.contains(String(pieces[0])), let weight = Int(pieces[1]), weight >= 0 else {
                throw ConfigurationError("RYMI_SIM_OUTCOMES", "'\(part)' is not outcome=weight with outcome one of \(knownOutcomes.sorted().joined(separator: ", "))")
            }
            outcomes.append((String(pieces[0]), weight))
        }
        guard outcomes.contains(where: { $0.weight > 0 }) else { throw ConfigurationError("RYMI_SIM_OUTCOMES", "no outcome has a weight") }
        return outcomes
    }
}

/// Probabilities (0…1) of each injected fault on a call request.
public struct Faults: Sendable, Equatable {
    /// 500 without placing the call.
    public var http500 = 0.0
    /// Places the call, then answers 500: the "may have fired" case.
    public var http500AfterFiring = 0.0
    /// 429 without placing the call.
    public var http429 = 0.0
    /// 401, as with a revoked token.
    public var http401 = 0.0
    /// Places the call and answers only after `slowMilliseconds`.
    public var slow = 0.0
    public var slowMilliseconds = 2000
    /// Places the call and answers 200 with a body that is not JSON.
    public var malformed = 0.0
    /// Places the call, then resets the connection instead of answering.
    public var reset = 0.0
    /// Drops every callback (so outcomes must be looked up).
    public var dropCallbacks = 0.0

    public init() {}

    public init(parsing text: String, variable: String) throws(ConfigurationError) {
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "=")
            guard pieces.count == 2, let value = Double(pieces[1]) else {
                throw ConfigurationError(variable, "'\(part)' is not fault=probability")
            }
            switch pieces[0] {
            case "http500": http500 = value
            case "http500_after_firing": http500AfterFiring = value
            case "http429": http429 = value
            case "http401": http401 = value
            case "slow": slow = value
            case "slow_ms": slowMilliseconds = Int(value)
            case "malformed": malformed = value
            case "reset": reset = value
            case "drop_callbacks": dropCallbacks = value
            default: throw ConfigurationError(variable, "unknown fault '\(pieces[0])'")
            }
        }
    }
}
