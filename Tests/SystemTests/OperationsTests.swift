import Foundation
import JSON
import Testing

/// What operators rely on: health checks, metrics, logs with request ids, graceful shutdown.
@Suite(.serialized) struct OperationsTests {
    func run(_ name: String, _ arguments: [String], environment: [String: String]) -> Int32 {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment
            .merging(["RYMI_GATEWAY_SECRET": Secrets.gateway, "RYMI_DIALER_SECRET": Secrets.dialer]) { $1 }
            .merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        return process.awaitExit() ?? -1
    }

    @Test func healthChecksTellUpFromDown() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let gateway = ["RYMI_HTTP_ADDR": "127.0.0.1:\(stack.client.port)"]
        let manager = ["RYMI_MANAGER_LISTEN": "127.0.0.1:\(stack.managerPort)"]
        let simulator = ["RYMI_SIM_ADDR": "127.0.0.1:\(stack.simulatorClient!.port)"]
        let dialer = ["RYMI_STATUS_FILE": stack.dataDirectory.appendingPathComponent("dialer-1.status").path]
        #expect(run("rymi-gateway", ["--health-check"], environment: gateway) == 0)
        #expect(run("rymi-manager", ["--health-check"], environment: manager) == 0)
        // The check completes the handshake: with a wrong secret it cannot.
        #expect(run("rymi-manager", ["--health-check"], environment: manager.merging(["RYMI_GATEWAY_SECRET": "wrong-secret-0123456789abcdef"]) { $1 }) == 1)
        #expect(run("rymi-plivo-sim", ["--health-check"], environment: simulator) == 0)
        #expect(run("rymi-dialer", ["--health-check"], environment: dialer) == 0)
        stack.killManager()
        #expect(run("rymi-manager", ["--health-check"], environment: manager) == 1)
        #expect(run("rymi-dialer", ["--health-check"], environment: ["RYMI_STATUS_FILE": "/nonexistent/status"]) == 1)
        #expect(run("rymi-gateway", ["--health-check"], environment: ["RYMI_HTTP_ADDR": "127.0.0.1:1"]) == 1)
    }

    @Test func metricsCoverRequestsCallsAndStorage() async throws {
        let stack = try await Stack.start(.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=1,busy=1"]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(10), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await stack.waitForCampaign(id, status: "completed")
        _ = try await stack.client.request("POST", "/callbacks/plivo/hangup?contact=ct_1&attempt=1", key: nil, json: "CallStatus=completed",
                                           headers: [("Content-Type", "application/x-www-form-urlencoded")])
        let response = try await stack.adminClient.request("GET", "/metrics", key: nil)
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = response.text
        for expected in [
            #"rymi_http_requests_total{method="POST",route="/v1/campaigns/:id/start",status="200"} 1"#,
            #"rymi_http_request_duration_seconds_bucket{route="/v1/campaigns/:id",le="+Inf"}"#,
            "rymi_callback_signature_failures_total 1",
            "rymi_manager_up 1",
            #"rymi_call_placements_total{outcome="accepted"} 10"#,
            #"rymi_call_results_total{reason="",status="completed"}"#,
            #"rymi_call_results_total{reason="busy",status="failed"}"#,
            "rymi_live_calls 0",
            "rymi_connected_dialers 1",
            "rymi_queue_depth 0",
            "rymi_sqlite_commit_seconds_count",
        ] {
            #expect(text.contains(expected), "missing \(expected)")
        }
        stack.killManager()
        let without = try await stack.adminClient.request("GET", "/metrics", key: nil)
        #expect(without.status == 200 && without.text.contains("rymi_manager_up 0"))
    }

    @Test func metricsCanRequireAToken() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_METRICS_TOKEN": "scrape-secret"])
        defer { stack.stop() }
        #expect(try await stack.adminClient.request("GET", "/metrics", key: nil).status == 401)
        #expect(try await stack.adminClient.request("GET", "/metrics", key: "scrape-secret").status == 200)
    }

    @Test func requestIDsTravelFromGatewayToManagerAndDialers() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(3), to: id)
        let dnc = try await stack.client.request("POST", "/v1/dnc", json: #"{"phone_numbers":["15552000002"]}"#, headers: [("X-Request-Id", "trace-dnc-1")])
        #expect(dnc.header("X-Request-Id") == "trace-dnc-1")
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start", headers: [("X-Request-Id", "trace-start-1")])
        try await stack.waitForCampaign(id, status: "completed")
        func logged(_ process: ServiceProcess, _ event: String, _ requestID: String) -> Bool {
            process.logLines.contains { line in
                guard let json = try? JSONParser.parse(line) else { return false }
                return json["event"]?.stringValue == event && json["request_id"]?.stringValue == requestID
            }
        }
        #expect(logged(stack.gateway, "http_request", "trace-start-1"))
        #expect(logged(stack.manager, "campaign_started", "trace-start-1"))
        #expect(logged(stack.dialers[0], "dnc_updated", "trace-dnc-1"))
        // Every log line is one JSON object with the basic fields.
        for line in stack.gateway.logLines + stack.manager.logLines + stack.dialers[0].logLines {
            let json = try JSONParser.parse(line)
            #expect(json["ts"] != nil && json["level"] != nil && json["service"] != nil && json["event"] != nil)
        }
    }

    @Test func sigtermDrainsAndExitsCleanly() async throws {
        let stack = try await Stack.start(.dialing(cps: 20))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        try await stack.upload(phoneNumbers(30), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        try await Task.sleep(nanoseconds: 500_000_000)
        // A dialer told to stop finishes what it began and reports it; nothing is lost.
        stack.dialers[0].signal(SIGTERM)
        #expect(await stack.dialers[0].waitForExit() == 0)
        // Its own shutdown closing the manager connection is not a warning.
        #expect(!stack.dialers[0].logLines.contains { $0.contains("rpc_disconnected") })
        #expect(stack.dialers[0].logLines.contains { $0.contains("rpc_closed") })
        let before = try await stack.simulatorCalls().requests.count
        try await stack.addDialer(name: "replacement")
        try await stack.waitForCampaign(id, status: "completed")
        let requests = try await stack.simulatorCalls().requests
        #expect(requests.count == 30 && before <= 30)
        #expect(Set(requests.compactMap { $0["to"]?.stringValue }).count == 30)
        // The gateway finishes an upload in flight before it exits.
        let big = #"{"contacts":["# + phoneNumbers(20_000, block: 1).map { #"{"phone_number":"\#($0)"}"# }.joined(separator: ",") + "]}"
        let draft = try await stack.createCampaign(name: "drain")
        // The head and half the body are in when the signal comes (a request not yet begun may be
        // refused by a closing server; one begun may not).
        let upload = try WireClient(port: stack.client.port, timeout: 30)
        let body = Array(big.utf8)
        upload.sendRaw(Array("POST /v1/campaigns/\(draft)/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.acme)\r\n".utf8)
                       + Array("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body[..<(body.count / 2)])
        try await Task.sleep(nanoseconds: 100_000_000)
        stack.gateway.signal(SIGTERM)
        try await Task.sleep(nanoseconds: 50_000_000)
        upload.sendRaw(Array(body[(body.count / 2)...]))
        #expect(upload.readStatusLine()?.hasPrefix("HTTP/1.1 201") == true)
        #expect(await stack.gateway.waitForExit() == 0)
        stack.manager.signal(SIGTERM)
        #expect(await stack.manager.waitForExit() == 0)
    }

    @Test func dialerWithoutCredentialsRefusesToStart() async throws {
        let process = try ServiceProcess("rymi-dialer", environment: ["PLIVO_AUTH_ID": "", "PLIVO_AUTH_TOKEN": ""])
        #expect(await process.waitForExit(timeout: 10) == 2)
        #expect(configurationMessage(process.standardError).hasPrefix("rymi-dialer: configuration error: PLIVO_AUTH_ID"))
    }
}
