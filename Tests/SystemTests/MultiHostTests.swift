import Foundation
import JSON
import Testing

/// The compose topology without Docker: gateway, manager, the Plivo simulator and dialers, each
/// on its own host of a namespace network, talking only over it.
@Suite(.serialized) struct MultiHostTests {
    @Test(.enabled(if: NetworkLab.available, "needs root and `ip netns` (network namespaces); skipped here"))
    func survivesDialerDeathALinkCutAndANewDialer() async throws {
        let contacts = 1000
        let cps = 50
        let lab = try NetworkLab()
        var processes: [ServiceProcess] = []
        defer {
            processes.forEach { $0.stop() }
            lab.destroy()
        }
        let data = temporaryDirectory("multihost")
        defer { try? FileManager.default.removeItem(at: data) }
        let started = Date()

        let simulator = try lab.addHost("sim", octet: 10)
        let manager = try lab.addHost("mgr", octet: 2)
        let gateway = try lab.addHost("gw", octet: 3)
        let plivo = [
            "PLIVO_AUTH_ID": PlivoTestAccount.authID, "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken,
        ]
        let simulatorControlToken = "sim_control_0123456789abcdef"
        processes.append(try ServiceProcess("rymi-plivo-sim", environment: plivo.merging([
            "RYMI_SIM_ADDR": "\(simulator.address):9090", "RYMI_SIM_RING_MS": "50", "RYMI_SIM_TALK_MS": "300",
            // Beyond loopback, /sim/* need the operator's token.
            "RYMI_SIM_CONTROL_TOKEN": simulatorControlToken,
        ]) { $1 }, namespace: simulator.namespace))
        processes.append(try ServiceProcess("rymi-manager", environment: [
            "RYMI_MANAGER_LISTEN": "\(manager.address):7070", "RYMI_DATA_DIR": data.path, "RYMI_ACCOUNT_NUMBERS": Keys.numbers, "RYMI_DIAL_CPS": String(cps),
            "RYMI_MAX_CONCURRENT_CALLS": "200", "RYMI_PLACEMENT_TIMEOUT": "5", "RYMI_OUTCOME_CHECK_AFTER": "3", "RYMI_OUTCOME_TIMEOUT": "20",
        ], namespace: manager.namespace))
        _ = try await processes[1].listeningPort()
        let gatewayProcess = try ServiceProcess("rymi-gateway", environment: [
            "RYMI_HTTP_ADDR": "\(gateway.address):8080", "RYMI_MANAGER_ADDR": "\(manager.address):7070", "RYMI_API_KEYS": Keys.all,
            "PLIVO_AUTH_TOKEN": PlivoTestAccount.authToken, "RYMI_LOG_LEVEL": "warning",
        ], namespace: gateway.namespace)
        processes.append(gatewayProcess)
        _ = try await processes[0].listeningPort()
        _ = try await gatewayProcess.listeningPort()

        func startDialer(_ index: Int) async throws -> ServiceProcess {
            let host = try lab.addHost("d\(index)", octet: 20 + index)
            let dialer = try ServiceProcess("rymi-dialer", environment: plivo.merging([
                "RYMI_MANAGER_ADDR": "\(manager.address):7070", "PLIVO_API_URL": "http://\(simulator.address):9090",
                // The simulator is on another (private, namespaced) host: plain HTTP needs the opt-in.
                "PLIVO_ALLOW_INSECURE_HTTP": "1",
                "RYMI_PUBLIC_URL": "http://\(gateway.address):8080", "RYMI_DIALER_NAME": "d\(index)", "PLIVO_TIMEOUT": "3",
                "RYMI_STATUS_FILE": data.appendingPathComponent("d\(index).status").path,
            ]) { $1 }, namespace: host.namespace)
            processes.append(dialer)
            _ = try await dialer.waitForEvent("dialer_registered")
            return dialer
        }
        let dialers = [try await startDialer(1), try await startDialer(2), try await startDialer(3)]

        // The test talks to the gateway and the simulator across the lab network too.
        let api = HTTPClient(port: 8080, host: gateway.address)
        let sim = HTTPClient(port: 9090, host: simulator.address)
        let created = try await api.request("POST", "/v1/campaigns", json: #"{"name":"multi-host","agent_id":"a","call_from_number":"14155550100","timezone":"\#(middayZone)"}"#)
        let id = try #require(created.json?["campaign_id"]?.stringValue)
        let numbers = phoneNumbers(contacts)
        let body = #"{"contacts":["# + numbers.map { #"{"phone_number":"\#($0)"}"# }.joined(separator: ",") + "]}"
        #expect(try await api.request("POST", "/v1/campaigns/\(id)/contacts", json: body).status == 201)
        #expect(try await api.request("POST", "/v1/campaigns/\(id)/start").status == 200)

        // Faults: kill d1, cut d2's cable for 10 s, then bring in d4.
        try await Task.sleep(for: .seconds(3))
        dialers[0].signal(SIGKILL)
        try await Task.sleep(for: .seconds(2))
        try lab.setLink("d2", up: false)
        try await Task.sleep(for: .seconds(10))
        try lab.setLink("d2", up: true)
        _ = try await startDialer(4)

        var campaign: JSONValue?
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            let response = try? await api.request("GET", "/v1/campaigns/\(id)")
            campaign = response?.json
            if campaign?["status"] == .string("completed") { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let counts = try #require(campaign?["contact_counts"])
        #expect(campaign?["status"] == .string("completed"), "\(campaign?.jsonText ?? "")")
        #expect(counts["total"] == .int(contacts))
        #expect(counts["pending"] == .int(0) && counts["dialed"] == .int(0))
        let final = ["completed", "failed", "skipped_dnc"].compactMap { counts[$0]?.intValue }.reduce(0, +)
        #expect(final == contacts, "every contact ends in exactly one final status")

        let report = try await sim.request("GET", "/sim/calls", key: simulatorControlToken)
        let requests = report.json?["requests"]?.arrayValue ?? []
        var perNumber: [String: Int] = [:]
        for request in requests { perNumber[request["to"]?.stringValue ?? "", default: 0] += 1 }
        #expect(perNumber.values.allSatisfy { $0 == 1 }, "no number was called twice")
        // Pacing is judged on when the dialers sent each request (stamped just before it goes out,
        // same clock on every namespace host): that is our rate. Arrival times add the network's
        // and the simulator's own scheduling delays; they are reported too, with any request the
        // network held back (one sent just as a cable was cut arrives when it is plugged back in).
        let calls = report.json?["calls"]?.arrayValue ?? []
        let arrivals = calls.compactMap { call -> (received: Double, sent: Double, delay: Double)? in
            guard let received = call["received_at"].flatMap({ Double($0.jsonText) }), let sent = call["sent_at"].flatMap({ Double($0.jsonText) }) else { return nil }
            return (received, sent, received - sent)
        }
        let late = arrivals.filter { $0.delay > 1 }.count
        func busiestSecond(_ times: [Double]) -> Int {
            let sorted = times.sorted()
            var busiest = 0
            for (index, start) in sorted.enumerated() { busiest = max(busiest, sorted[index...].prefix { $0 < start + 1 }.count) }
            return busiest
        }
        let busiest = busiestSecond(arrivals.map(\.sent))
        let busiestArrival = busiestSecond(arrivals.filter { $0.delay <= 1 }.map(\.received))
        #expect(busiest <= cps, "\(busiest) calls sent in one second; limit \(cps)")
        #expect(arrivals.count == calls.count)
        let unknown = counts["failed"]?.intValue ?? 0
        print("multi-host: \(contacts) contacts, \(requests.count) call requests, \(perNumber.count) numbers called, busiest second \(busiest)/\(cps) by send time, \(busiestArrival) by arrival (\(late) delivered late by the cut link), "
              + "completed \(counts["completed"]?.intValue ?? 0), failed \(unknown), faults: SIGKILL d1, d2 cable cut 10 s, d4 added; "
              + "\(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}
