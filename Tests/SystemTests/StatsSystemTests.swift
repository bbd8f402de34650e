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
