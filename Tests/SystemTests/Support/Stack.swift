import Foundation
import JSON

/// API keys of the two accounts every system test uses.
enum Keys {
    static let acme = "key_acme_0123456789abcdef"
    static let globex = "key_globex_0123456789abcdef"
    static let all = "acme:\(acme),globex:\(globex)"
}

/// A manager and a gateway on ephemeral loopback ports, with a fresh data directory.
final class Stack: @unchecked Sendable {
    let dataDirectory: URL
    private(set) var manager: ServiceProcess
    let gateway: ServiceProcess
    let managerPort: Int
    let client: HTTPClient

    static func start(gatewayEnvironment: [String: String] = [:]) async throws -> Stack {
        let data = temporaryDirectory("data")
        let manager = try ServiceProcess("rymi-manager", environment: ["RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_DATA_DIR": data.path])
        let managerPort = try await manager.listeningPort()
        var environment = [
            "RYMI_HTTP_ADDR": "127.0.0.1:0",
            "RYMI_MANAGER_ADDR": "127.0.0.1:\(managerPort)",
            "RYMI_API_KEYS": Keys.all,
        ]
        environment.merge(gatewayEnvironment) { $1 }
        let gateway = try ServiceProcess("rymi-gateway", environment: environment)
        let port = try await gateway.listeningPort()
        _ = try await gateway.waitForEvent("rpc_connected")
        return Stack(data: data, manager: manager, gateway: gateway, managerPort: managerPort, client: HTTPClient(port: port))
    }

    private init(data: URL, manager: ServiceProcess, gateway: ServiceProcess, managerPort: Int, client: HTTPClient) {
        self.dataDirectory = data
        self.manager = manager
        self.gateway = gateway
        self.managerPort = managerPort
        self.client = client
    }

    /// Kills the manager with SIGKILL (no chance to clean up).
    func killManager() {
        manager.stop()
    }

    /// Starts a new manager on the same port and data directory.
    func startManager() async throws {
        manager = try ServiceProcess("rymi-manager", environment: ["RYMI_MANAGER_LISTEN": "127.0.0.1:\(managerPort)", "RYMI_DATA_DIR": dataDirectory.path])
        _ = try await manager.listeningPort()
    }

    func stop() {
        gateway.stop()
        manager.stop()
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    // MARK: Conveniences

    func createCampaign(key: String = Keys.acme, name: String = "Spring renewals", agentID: String = "agent_42") async throws -> String {
        let response = try await client.request("POST", "/v1/campaigns", key: key,
                                                json: #"{"name":"\#(name)","agent_id":"\#(agentID)","call_from_number":"14155550100"}"#)
        guard response.status == 201, let id = response.json?["campaign_id"]?.stringValue else {
            throw TestFailure("create failed: \(response.status) \(response.text)")
        }
        return id
    }
}
