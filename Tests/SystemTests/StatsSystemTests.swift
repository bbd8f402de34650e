import Foundation
import JSON
import Testing

/// `GET /v1/campaigns/:id/stats`, checked against what the simulator did.
@Suite(.serialized) struct StatsSystemTests {
    @Test func statsAgreeWithTheCallsMade() async throws {
        let stack = try await Stack.start(.dialing(simulator: ["RYMI_SIM_OUTCOMES": "completed=60,busy=40", "RYMI_SIM_MACHINE_DIGITS": ""]))
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/stats").json?["answer_rate"] == .null)
        try await stack.upload(phoneNumbers(40), to: id)
        _ = try await stack.client.request("POST", "/v1/campaigns/\(id)/start")
        let finished = try await stack.waitForCampaign(id, status: "completed")
        let completed = finished["contact_counts"]?["completed"]?.intValue ?? 0
        let failed = finished["contact_counts"]?["failed"]?.intValue ?? 0
        #expect(completed + failed == 40 && completed > 0 && failed > 0)
        // Counters are moved by the callbacks: wait for the last hangup to be counted.
        var stats: JSONValue?
        for _ in 0..<50 {
            stats = try await stack.client.request("GET", "/v1/campaigns/\(id)/stats").json
            if stats?["talk_time"]?["calls"] == .int(completed) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(stats?["attempts"] == .int(40) && stats?["answered"] == .int(completed))
        #expect(stats?["answer_rate"]?.doubleValue == (Double(completed) / 40 * 10_000).rounded() / 10_000)
        #expect(stats?["failure_reasons"] == .object([("busy", .int(failed))]))
        #expect(stats?["voicemail"] == .int(0) && stats?["voicemail_rate"] == .number("0.0000"))
        #expect(stats?["talk_time"] == .object([("calls", .int(completed)), ("total_seconds", .int(completed)), ("p50_seconds", .int(1)), ("p90_seconds", .int(1))]))
        #expect(stats?["billed_seconds"] == .int(completed))
        let minutes = stats?["calls_per_minute"]?.arrayValue ?? []
        #expect(minutes.compactMap { $0["calls"]?.intValue }.reduce(0, +) == 40 && minutes.count <= 2)
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/stats", key: Keys.globex).status == 404)
        #expect(try await stack.client.request("GET", "/v1/campaigns/\(id)/stats?x=1").status == 422)
    }
}

/// `GET /v1/campaigns/:id/contacts.csv`, read by curl and parsed by Python's csv module.
@Suite(.serialized) struct ContactExportSystemTests {
    func curl(_ arguments: [String]) async throws -> (status: Int32, output: Data) {
        try await runTool(["curl", "-sS", "--max-time", "60"] + arguments, separateErrors: true)
    }

    @Test func exportsEveryContactAsRFC4180CSV() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let numbers = phoneNumbers(2500)
        let tricky = #"{"phone_number":"\#(numbers[0])","variables":{"note":"a, \"quoted\"\nline","n":1}}"#
        let rest = numbers.dropFirst().map { #"{"phone_number":"\#($0)"}"# }.joined(separator: ",")
        let uploaded = try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts", json: #"{"contacts":[\#(tricky),\#(rest)]}"#)
        #expect(uploaded.status == 201)
        let url = "http://127.0.0.1:\(stack.client.port)/v1/campaigns/\(id)/contacts.csv"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, flags) in [("http11.csv", [String]()), ("http10.csv", ["--http1.0"])] {
            let (status, data) = try await curl(flags + ["-D", directory.appendingPathComponent(name + ".head").path, "-H", "Authorization: Bearer \(Keys.acme)", url])
            #expect(status == 0)
            try data.write(to: directory.appendingPathComponent(name))
        }
        let head = try String(contentsOf: directory.appendingPathComponent("http11.csv.head"), encoding: .utf8).lowercased()
        #expect(head.contains("transfer-encoding: chunked") && head.contains("content-type: text/csv"))
        let script = """
            import csv, json, sys
            for name in ["http11.csv", "http10.csv"]:
                with open(sys.argv[1] + "/" + name, newline="") as f:
                    rows = list(csv.DictReader(f))
                assert len(rows) == 2500, (name, len(rows))
                assert all(row["status"] == "pending" for row in rows)
                first = [r for r in rows if r["phone_number"] == sys.argv[2]][0]
                assert json.loads(first["variables"]) == {"note": 'a, "quoted"\\nline', "n": 1}, first["variables"]
            print("parsed")
            """
        let (status, output) = try await runTool(["python3", "-c", script, directory.path, numbers[0]])
        let text = String(decoding: output, as: UTF8.self)
        #expect(status == 0 && text.contains("parsed"), "\(text)")
        // Another account's campaign is not found, before any byte of CSV.
        let (_, other) = try await curl(["-H", "Authorization: Bearer \(Keys.globex)", "-w", "%{http_code}", "-o", "/dev/null", url])
        #expect(String(decoding: other, as: UTF8.self) == "404")
        // The connection stays usable after a streamed answer: curl reuses it for the next request.
        let (_, twice) = try await curl(["-H", "Authorization: Bearer \(Keys.acme)", "-o", "/dev/null", "-o", "/dev/null",
                                   "-w", "%{http_code}:%{num_connects} ", url, "http://127.0.0.1:\(stack.client.port)/v1/campaigns/\(id)"])
        #expect(String(decoding: twice, as: UTF8.self) == "200:1 200:0 ")
    }
}
