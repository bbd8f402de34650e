import Foundation
@_exported import TestSupport
import Telephony
import JSON

/// API keys of the two accounts every system test uses.
enum Keys {
    static let acme = "key_acme_0123456789abcdef"
    static let globex = "key_globex_0123456789abcdef"
    static let all = "acme:\(acme),globex:\(globex)"
    /// The numbers the test accounts may call from.
    static let numbers = "acme:+14155550100,acme:+14155550199,acme:+442079460958"
}

/// The internal protocol's role secrets every test deployment shares (ServiceProcess sets them).
enum Secrets {
    static let gateway = "test-gateway-secret-0123456789abcdef"
    static let dialer = "test-dialer-secret-0123456789abcdef"
}

/// Plivo credentials shared by the simulator, the dialers and the gateway.
enum PlivoTestAccount {
    static let authID = "MATESTACCOUNT0000001"
    static let authToken = "test_auth_token_0123456789"
}

/// What to start besides a manager and a gateway.
struct StackOptions {
    var dialers = 0
    var simulator: [String: String]?
    var manager: [String: String] = [:]
    var gateway: [String: String] = [:]
    var dialer: [String: String] = [:]

    /// A fast, busy deployment for dialing tests: short calls, high pacing, quick recovery.
    static func dialing(dialers: Int = 1, cps: Int = 200, simulator: [String: String] = [:], manager: [String: String] = [:]) -> StackOptions {
        var options = StackOptions(dialers: dialers)
        options.simulator = ["RYMI_SIM_RING_MS": "20", "RYMI_SIM_TALK_MS": "60"].merging(simulator) { $1 }
        options.manager = [
            "RYMI_DIAL_CPS": String(cps), "RYMI_MAX_CONCURRENT_CALLS": "200", "RYMI_PLACEMENT_TIMEOUT": "2",
            "RYMI_OUTCOME_CHECK_AFTER": "1", "RYMI_OUTCOME_TIMEOUT": "4",
        ].merging(manager) { $1 }
        options.dialer = ["PLIVO_TIMEOUT": "2"]
        return options
    }
}

/// Real executables on ephemeral loopback ports with a fresh data directory: a manager, a
/// gateway and, on request, the Plivo simulator and dialers.
final class Stack: @unchecked Sendable {
    let dataDirectory: URL
    private(set) var manager: ServiceProcess
    let gateway: ServiceProcess
    let simulator: ServiceProcess?
    private(set) var dialers: [ServiceProcess] = []
    let managerPort: Int
    let client: HTTPClient
    /// The gateway's operator-only listener: `/metrics`, `/readyz` with details.
    let adminClient: HTTPClient
    let simulatorClient: HTTPClient?
    let options: StackOptions
    private var managerEnvironment: [String: String]

    static func start(gatewayEnvironment: [String: String] = [:]) async throws -> Stack {
        var options = StackOptions()
        options.gateway = gatewayEnvironment
        return try await start(options)
    }

    static func start(_ options: StackOptions) async throws -> Stack {
        let data = temporaryDirectory("data")
        var simulator: ServiceProcess?
        var simulatorPort: Int?
        if let environment = options.simulator ?? (options.dialers > 0 ? [:] : nil) {
            let process = try ServiceProcess("rymi-plivo-sim", environment: [
                "RYMI_SIM_ADDR": "127.0.0.1:0", "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
            ].merging(environment) { $1 })
            simulatorPort = try await process.listeningPort()
            simulator = process
        }
        let managerEnvironment = ["RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_DATA_DIR": data.path, "RYMI_ACCOUNT_NUMBERS": Keys.numbers]
            .merging(options.manager) { $1 }
        let manager = try ServiceProcess("rymi-manager", environment: managerEnvironment)
        let managerPort = try await manager.listeningPort()
        let gateway = try ServiceProcess("rymi-gateway", environment: [
            "RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_ADMIN_ADDR": "127.0.0.1:0", "RYMI_MANAGER_ADDR": "127.0.0.1:\(managerPort)",
            "RYMI_API_KEYS": Keys.all, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
        ].merging(options.gateway) { $1 })
        let port = try await gateway.listeningPort()
        let adminPort = try await gateway.adminPort()
        _ = try await gateway.waitForEvent("rpc_connected")
        var pinned = managerEnvironment
        pinned["RYMI_MANAGER_LISTEN"] = "127.0.0.1:\(managerPort)"
        let stack = Stack(data: data, manager: manager, gateway: gateway, simulator: simulator, managerPort: managerPort,
                          client: HTTPClient(port: port), adminClient: HTTPClient(port: adminPort), simulatorClient: simulatorPort.map { HTTPClient(port: $0) },
                          options: options, managerEnvironment: pinned)
        for _ in 0..<options.dialers { try await stack.addDialer() }
        return stack
    }

    private init(data: URL, manager: ServiceProcess, gateway: ServiceProcess, simulator: ServiceProcess?, managerPort: Int,
                 client: HTTPClient, adminClient: HTTPClient, simulatorClient: HTTPClient?, options: StackOptions, managerEnvironment: [String: String]) {
        self.dataDirectory = data
        self.manager = manager
        self.gateway = gateway
        self.simulator = simulator
        self.managerPort = managerPort
        self.client = client
        self.adminClient = adminClient
        self.simulatorClient = simulatorClient
        self.options = options
        self.managerEnvironment = managerEnvironment
    }

    /// Starts one more dialer and waits until the manager has it.
    @discardableResult
    func addDialer(name: String? = nil) async throws -> ServiceProcess {
        guard let simulatorClient else { throw TestFailure("no simulator") }
        let dialer = try ServiceProcess("rymi-dialer", environment: [
            "RYMI_MANAGER_ADDR": "127.0.0.1:\(managerPort)", "PLIVO_AUTH_ID": PlivoTestAccount.authID,
            "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken, "PLIVO_API_URL": "http://127.0.0.1:\(simulatorClient.port)",
            "RYMI_PUBLIC_URL": "http://127.0.0.1:\(client.port)", "RYMI_DIALER_NAME": name ?? "dialer-\(dialers.count + 1)",
            "RYMI_STATUS_FILE": dataDirectory.appendingPathComponent("dialer-\(dialers.count + 1).status").path,
        ].merging(options.dialer) { $1 })
        _ = try await dialer.waitForEvent("dialer_registered")
        dialers.append(dialer)
        return dialer
    }

    /// Kills the manager with SIGKILL (no chance to clean up).
    func killManager() {
        manager.stop()
    }

    /// Starts a new manager on the same port and data directory.
    func startManager() async throws {
        manager = try ServiceProcess("rymi-manager", environment: managerEnvironment)
        _ = try await manager.listeningPort()
    }

    func stop() {
        gateway.stop()
        dialers.forEach { $0.stop() }
        manager.stop()
        simulator?.stop()
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    // MARK: Conveniences

    func createCampaign(key: String = Keys.acme, name: String = "Spring renewals", agentID: String = "agent_42") async throws -> String {
        let response = try await client.request("POST", "/v1/campaigns", key: key,
                                                json: #"{"name":"\#(name)","agent_id":"\#(agentID)","call_from_number":"14155550100","timezone":"\#(middayZone)"}"#)
        guard response.status == 201, let id = response.json?["campaign_id"]?.stringValue else {
            throw TestFailure("create failed: \(response.status) \(response.text)")
        }
        return id
    }

    /// Uploads `numbers` (with a variable each) and checks they were all inserted.
    func upload(_ numbers: [String], to campaign: String, key: String = Keys.acme) async throws {
        let body = #"{"contacts":["# + numbers.map { #"{"phone_number":"\#($0)","variables":{"n":"\#($0)"}}"# }.joined(separator: ",") + "]}"
        let response = try await client.request("POST", "/v1/campaigns/\(campaign)/contacts", key: key, json: body)
        guard response.status == 201 else { throw TestFailure("upload failed: \(response.status) \(response.text)") }
    }

    func campaign(_ id: String, key: String = Keys.acme) async throws -> JSONValue {
        let response = try await client.request("GET", "/v1/campaigns/\(id)", key: key)
        guard response.status == 200, let json = response.json else { throw TestFailure("get failed: \(response.status) \(response.text)") }
        return json
    }

    /// Polls until the campaign has `status`, failing after `timeout` seconds.
    @discardableResult
    func waitForCampaign(_ id: String, status: String, key: String = Keys.acme, timeout: Double = 60) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        var last: JSONValue?
        while Date() < deadline {
            if let campaign = try? await campaign(id, key: key) {
                last = campaign
                if campaign["status"]?.stringValue == status { return campaign }
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw TestFailure("campaign \(id) did not reach \(status) in \(timeout)s; last: \(last?.jsonText ?? "nothing")")
    }

    /// Every contact of a campaign, through the paginated API.
    func contacts(_ id: String, status: String? = nil) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var cursor: String?
        repeat {
            var path = "/v1/campaigns/\(id)/contacts?limit=1000"
            if let status { path += "&status=\(status)" }
            if let cursor { path += "&cursor=\(cursor)" }
            let page = try await client.request("GET", path)
            guard page.status == 200 else { throw TestFailure("list failed: \(page.status) \(page.text)") }
            all += page.json?["contacts"]?.arrayValue ?? []
            cursor = page.json?["next_cursor"]?.stringValue
        } while cursor != nil
        return all
    }

    /// What the simulator was asked: every call it placed and every request it answered.
    func simulatorCalls() async throws -> (calls: [JSONValue], requests: [JSONValue]) {
        guard let simulatorClient else { throw TestFailure("no simulator") }
        let response = try await simulatorClient.request("GET", "/sim/calls", key: nil)
        return (response.json?["calls"]?.arrayValue ?? [], response.json?["requests"]?.arrayValue ?? [])
    }

    func setSimulatorFaults(_ faults: String) async throws {
        guard let simulatorClient else { throw TestFailure("no simulator") }
        let response = try await simulatorClient.request("POST", "/sim/faults", key: nil, json: faults, headers: [("Content-Type", "text/plain")])
        guard response.status == 200 else { throw TestFailure("faults not set: \(response.text)") }
    }
}

/// `count` distinct numbers of a recognisable shape.
/// `count` distinct valid NANP numbers, `1 NPA NXX XXXX`, in block `block`: one area code per
/// block (555 for block 0), so tests can keep their numbers apart. Exchanges run from 200 up,
/// without the N11 service codes the NANP forbids.
func phoneNumbers(_ count: Int, block: Int = 0) -> [String] {
    let npa = block == 0 ? 555 : nanpAreaCodes[block - 1]
    return (0..<count).map { "1\(npa)\(nanpExchanges[$0 / 10_000])" + String(format: "%04d", $0 % 10_000) }
}

/// Area codes other than 555 (2–9, no 9 in the middle, not N11) tied to no time zone, so their
/// callees take the campaign's (`middayZone` for the helpers' campaigns), and exchanges (200–999,
/// not N11).
let nanpAreaCodes = (200...989).filter { npa in
    (npa / 10) % 10 != 9 && npa % 100 != 11 && npa != 555
        && (try? TimeZones.zone(forNumber: "1\(npa)5552000").get()) == nil
}

let nanpExchanges = (200...999).filter { $0 % 100 != 11 }
