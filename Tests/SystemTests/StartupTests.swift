import Foundation
import Glibc
import JSON
import SQLite
import Testing

/// Configuration errors stop a process at once with one clear line.
@Suite struct StartupTests {
    /// The exit status, and the `message` of the one JSON line the process wrote on stderr.
    func run(_ name: String, _ environment: [String: String]) async throws -> (Int32?, String) {
        let process = try ServiceProcess(name, environment: environment)
        let status = await process.waitForExit(timeout: 10)
        process.stop()
        return (status, configurationMessage(process.standardError))
    }

    @Test func gatewayWithoutKeysRefusesToStart() async throws {
        let (status, message) = try await run("rymi-gateway", ["RYMI_API_KEYS": "", "RYMI_HTTP_ADDR": "127.0.0.1:0"])
        #expect(status == 2)
        #expect(message == "rymi-gateway: configuration error: RYMI_API_KEYS: not set; give at least one account:key pair")
    }

    /// A secret file that cannot be read says so, naming the file and why (not "not set").
    @Test func anUnreadableSecretFileIsNamedWithTheReason() async throws {
        let (status, message) = try await run("rymi-gateway", ["RYMI_API_KEYS": "", "RYMI_API_KEYS_FILE": "/nonexistent/rymi_api_keys",
                                                              "RYMI_HTTP_ADDR": "127.0.0.1:0"])
        #expect(status == 2)
        #expect(message.hasPrefix("rymi-gateway: configuration error: RYMI_API_KEYS_FILE: cannot read /nonexistent/rymi_api_keys: no such file"),
                "\(message)")
        let process = try ServiceProcess("rymi-gateway", environment: ["RYMI_API_KEYS": "", "RYMI_HTTP_ADDR": "127.0.0.1:0"])
        _ = await process.waitForExit(timeout: 10)
        let line = try JSONParser.parse(process.standardError.trimmingCharacters(in: .newlines))
        #expect(line["event"] == .string("configuration_error") && line["variable"] == .string("RYMI_API_KEYS") && line["service"] == .string("gateway"))
    }

    @Test func badAddressesAreNamed() async throws {
        let (status, message) = try await run("rymi-gateway", ["RYMI_API_KEYS": Keys.all, "RYMI_HTTP_ADDR": "localhost"])
        #expect(status == 2)
        #expect(message.contains("RYMI_HTTP_ADDR"))
        #expect(message.split(separator: "\n").count == 1)
    }

    /// Issue 10: plain HTTP to a host that is not loopback would send the Plivo credentials in
    /// the clear; it needs an explicit opt-in.
    @Test func dialerRefusesPlainHTTPToPlivoBeyondLoopback() async throws {
        let environment = ["RYMI_MANAGER_ADDR": "127.0.0.1:1", "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
                           "PLIVO_API_URL": "http://plivo.example.com", "RYMI_STATUS_FILE": temporaryDirectory("status").appendingPathComponent("s").path]
        let (status, message) = try await run("rymi-dialer", environment)
        #expect(status == 2)
        #expect(message.hasPrefix("rymi-dialer: configuration error: PLIVO_API_URL: "))
        #expect(message.contains("PLIVO_ALLOW_INSECURE_HTTP=1"))
        #expect(message.split(separator: "\n").count == 1)
        let (badFlag, flagMessage) = try await run("rymi-dialer", environment.merging(["PLIVO_ALLOW_INSECURE_HTTP": "maybe"]) { $1 })
        #expect(badFlag == 2)
        #expect(flagMessage.contains("PLIVO_ALLOW_INSECURE_HTTP"))
        // Opted in, it starts (and keeps trying to reach the manager).
        let optedIn = try ServiceProcess("rymi-dialer", environment: environment.merging(["PLIVO_ALLOW_INSECURE_HTTP": "1"]) { $1 })
        defer { optedIn.stop() }
        #expect(await optedIn.waitForExit(timeout: 1.5) == nil)
    }

    @Test func managerRefusesADataDirectoryThatIsAFile() async throws {
        let file = temporaryDirectory("file").appendingPathComponent("plain")
        try Data("x".utf8).write(to: file)
        let (status, message) = try await run("rymi-manager", ["RYMI_DATA_DIR": file.path, "RYMI_MANAGER_LISTEN": "127.0.0.1:0"])
        #expect(status == 2)
        #expect(message.contains("RYMI_DATA_DIR"))
    }

    @Test func managerRefusesAForeignOrCorruptDatabase() async throws {
        let foreign = temporaryDirectory("foreign")
        let database = foreign.appendingPathComponent("rymi.sqlite")
        try Database(path: database.path).execute("CREATE TABLE other (x)")
        let (status, message) = try await run("rymi-manager", ["RYMI_DATA_DIR": foreign.path, "RYMI_MANAGER_LISTEN": "127.0.0.1:0"])
        #expect(status == 2)
        #expect(message.contains("not a Rymi database"))

        let corrupt = temporaryDirectory("corrupt")
        try Data(repeating: 0x42, count: 10_000).write(to: corrupt.appendingPathComponent("rymi.sqlite"))
        let (corruptStatus, corruptMessage) = try await run("rymi-manager", ["RYMI_DATA_DIR": corrupt.path, "RYMI_MANAGER_LISTEN": "127.0.0.1:0"])
        #expect(corruptStatus == 2)
        #expect(corruptMessage.contains("refusing to start"))
        // The file is left as it was.
        #expect(try Data(contentsOf: corrupt.appendingPathComponent("rymi.sqlite")) == Data(repeating: 0x42, count: 10_000))
    }

    /// Gateways started the way existing scripts and tests start them (API port 0, no
    /// RYMI_ADMIN_ADDR) never fight over the admin port; on a fixed API port whose default admin
    /// port is taken, a gateway still starts, on a free admin port, and says so.
    @Test func gatewaysWithoutAnAdminAddressDoNotCollide() async throws {
        let gateways = try (0..<2).map { _ in
            try ServiceProcess("rymi-gateway", environment: ["RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_API_KEYS": Keys.all])
        }
        defer { gateways.forEach { $0.stop() } }
        var adminPorts: [Int] = []
        for gateway in gateways {
            _ = try await gateway.listeningPort()
            adminPorts.append(try await gateway.adminPort())
        }
        #expect(Set(adminPorts).count == 2 && !adminPorts.contains(9464))

        // Hold 9464 (if nothing else does), then start a gateway on a fixed API port.
        let holder = try? RawListener(port: 9464) { close($0) }
        defer { holder?.stop() }
        let apiPort = try RawListener.freePort()
        let fixed = try ServiceProcess("rymi-gateway", environment: ["RYMI_HTTP_ADDR": "127.0.0.1:\(apiPort)", "RYMI_API_KEYS": Keys.all])
        defer { fixed.stop() }
        #expect(try await fixed.listeningPort() == apiPort)
        _ = try await fixed.waitForEvent("admin_port_in_use")
        #expect(try await fixed.adminPort() != 9464)
    }
}

/// A deployment with nothing set up (`docker compose up` as it is): the processes make the
/// secrets they share in `RYMI_SECRETS_DIR`, and the gateway says the API key it made.
@Suite struct GeneratedSecretsSystemTests {
    @Test func processesWithNoSecretsMakeAndShareThemAndTheKeyIsLogged() async throws {
        let secrets = temporaryDirectory("secrets")
        var options = StackOptions()
        let none = ["RYMI_GATEWAY_SECRET": "", "RYMI_DIALER_SECRET": "", "RYMI_SECRETS_DIR": secrets.path]
        options.manager = none
        options.gateway = none.merging(["RYMI_API_KEYS": "", "PLIVO_AUTH_TOKEN": "", "RYMI_ADMIN_ADDR": "0.0.0.0:0"]) { $1 }
        // Connected: the manager and the gateway agree on the secret one of them made.
        let stack = try await Stack.start(options)
        defer { stack.stop() }
        let announced = try await stack.gateway.waitForEvent("demo_api_key")
        let keys = try #require(announced["api_keys"]?.stringValue)
        #expect(keys.hasPrefix("demo:key_"))
        let key = String(keys.dropFirst("demo:".count))
        #expect(try await stack.client.request("GET", "/v1/campaigns", key: key).status == 200)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: secrets.path))
        #expect(files == ["rymi_gateway_secret", "rymi_dialer_secret", "rymi_api_keys", "plivo_auth_token", "rymi_metrics_token"], "\(files)")
        // The admin listener beyond loopback is not open: metrics need the token made with the rest.
        let token = try String(contentsOfFile: secrets.appendingPathComponent("rymi_metrics_token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await stack.adminClient.request("GET", "/metrics", key: nil).status == 401)
        #expect(try await stack.adminClient.request("GET", "/metrics", key: token).status == 200)
    }
}
