import Foundation
import JSON
import Testing

/// `POST /v1/campaigns/:id/contacts` with `Content-Type: text/csv`, through real processes.
@Suite struct CSVUploadTests {
    func upload(_ stack: Stack, _ id: String, _ csv: String, query: String = "") async throws -> HTTPResult {
        try await stack.client.request("POST", "/v1/campaigns/\(id)/contacts\(query)", json: csv, headers: [("Content-Type", "text/csv; charset=utf-8")])
    }

    @Test func aSpreadsheetsFileBecomesContactsWithStringVariables() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        // A BOM, CRLF, an alias in another case, quoted commas, quotes and a line break, a time zone column.
        let csv = "\u{FEFF}Phone,First Name,Note,TimeZone\r\n"
            + "+1 (415) 555-0101,Ada,\"Lovelace, Ada\",America/Los_Angeles\r\n"
            + "14155550102,Grace,\"said \"\"hi\"\"\nthen left\",\r\n"
            + "14155550101,Dup,again,\r\n"
        let answer = try await upload(stack, id, csv)
        #expect(answer.status == 201, "\(answer.text)")
        #expect(answer.json?["inserted_count"] == .int(2) && answer.json?["skipped_duplicates"] == .int(1))
        let contacts = try await stack.contacts(id)
        let ada = contacts.first { $0["phone_number"] == .string("14155550101") }
        #expect(ada?["variables"]?["First Name"] == .string("Ada") && ada?["variables"]?["Note"] == .string("Lovelace, Ada"))
        #expect(ada?["timezone"] == .string("America/Los_Angeles"))
        let grace = contacts.first { $0["phone_number"] == .string("14155550102") }
        #expect(grace?["variables"]?["Note"] == .string("said \"hi\"\nthen left") && grace?["timezone"] == .null)
    }

    @Test func anyInvalidRowRefusesTheUploadNamingItsRow() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let csv = "phone_number,timezone,name\n14155550101,,a\nnot-a-number,,b\n14155550103,Mars/Olympus,c\n14155550104,,d,extra\n"
        let answer = try await upload(stack, id, csv)
        #expect(answer.status == 422 && answer.json?["error"]?["code"] == .string("invalid_contacts"), "\(answer.text)")
        let details = answer.json?["error"]?["details"]?.arrayValue ?? []
        #expect(details.map { $0["row"]?.intValue ?? 0 } == [2, 3, 4] && details.map { $0["field"]?.stringValue ?? "" } == ["phone_number", "timezone", "row"])
        #expect(try await stack.contacts(id).isEmpty)
        // The same file with ?on_invalid=skip: the valid row goes in, the others come back with reasons.
        let skipped = try await upload(stack, id, csv, query: "?on_invalid=skip")
        #expect(skipped.status == 201 && skipped.json?["inserted_count"] == .int(1) && skipped.json?["rejected_count"] == .int(3), "\(skipped.text)")
        #expect(skipped.json?["rejected"]?.arrayValue?.map { $0["row"]?.intValue ?? 0 } == [2, 3, 4])
        #expect(try await stack.contacts(id).count == 1)
    }

    @Test func nationalNumbersAreReadInTheCountryAsked() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let refused = try await upload(stack, id, "number\n07911 123456\n")
        #expect(refused.status == 422, "\(refused.text)")
        let answer = try await upload(stack, id, "number\n07911 123456\n", query: "?default_country=GB")
        #expect(answer.status == 201 && answer.json?["inserted_count"] == .int(1), "\(answer.text)")
        #expect(try await stack.contacts(id).first?["phone_number"] == .string("447911123456"))
        #expect(try await upload(stack, id, "number\n1\n", query: "?default_country=XX").status == 422)
        #expect(try await upload(stack, id, "number\n1\n", query: "?on_invalid=maybe").status == 422)
    }

    @Test func aFileThatIsNotUsableIsRefusedWithItsReason() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let cases: [(String, String)] = [
            ("name,email\nAda,a@example.com\n", "no column names the phone number"),
            ("phone,Phone\n1,2\n", "appears twice"),
            ("phone\n", "no rows"),
            ("", "empty"),
            ("phone,name\n14155550101,\"Ada\"x\n", "row 1"),
            ("phone,name\n14155550101,\"Ada\n", "row 1"),
        ]
        for (csv, reason) in cases {
            let answer = try await upload(stack, id, csv)
            #expect(answer.status == 422 && answer.json?["error"]?["message"]?.stringValue?.contains(reason) == true, "\(csv): \(answer.text)")
        }
        #expect(try await stack.contacts(id).isEmpty)
        // Declared over the limit: refused from its head.
        let huge = try await stack.client.exchange(Array("""
            POST /v1/campaigns/\(id)/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.acme)\r\nContent-Type: text/csv\r\n\
            Content-Length: 1073741824\r\nConnection: close\r\n\r\n
            """.utf8))
        #expect(huge.first?.status == 413)
    }

    /// A file past `RYMI_MAX_CSV_BYTES`, sent chunked (no length to refuse it by): 413 once it
    /// passes the limit, read a piece at a time, and nothing inserted.
    @Test func aFileOverTheLimitIs413WithoutBeingHeld() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_MAX_CSV_BYTES": "100000"])
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        var body = "phone_number,name\r\n"
        for index in 0..<5_000 { body += "1415555\(String(format: "%04d", index)),Customer \(index)\r\n" }
        let chunks = stride(from: 0, to: body.utf8.count, by: 8192).map { start -> [UInt8] in
            let piece = Array(body.utf8.dropFirst(start).prefix(8192))
            return Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
        }.joined()
        let head = "POST /v1/campaigns/\(id)/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.acme)\r\n"
            + "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        let answers = try await stack.client.exchange(Array(head.utf8) + Array(chunks) + Array("0\r\n\r\n".utf8))
        #expect(answers.first?.status == 413, "\(answers.first?.text ?? "no answer")")
        #expect(try await stack.contacts(id).isEmpty)
    }

    /// The manager killed while a file is being staged: the upload fails, nothing of it is in the
    /// campaign after the restart, and sending it again works.
    @Test func aManagerKilledMidUploadLeavesNothingOfIt() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let rows = phoneNumbers(30_000, block: 6).map { "\($0),Customer\r\n" }.joined()
        let body = Array(("phone,name\r\n" + rows).utf8)
        let client = try WireClient(port: stack.client.port, timeout: 20)
        client.sendRaw(Array("""
            POST /v1/campaigns/\(id)/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.acme)\r\nContent-Type: text/csv\r\n\
            Content-Length: \(body.count)\r\n\r\n
            """.utf8) + body.prefix(body.count * 3 / 4))
        // Two batches of 10,000 staged, then the manager dies before the rest arrives.
        try await Task.sleep(for: .milliseconds(500))
        stack.killManager()
        client.sendRaw(Array(body.dropFirst(body.count * 3 / 4)))
        let status = try await onOwnThread { client.readStatusLine() }
        #expect(status?.hasPrefix("HTTP/1.1 5") == true, "\(status ?? "no answer")")
        try await stack.startManager()
        var listed: HTTPResult?
        for _ in 0..<100 {
            listed = try await stack.client.request("GET", "/v1/campaigns/\(id)")
            if listed?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(listed?.json?["contact_counts"]?["total"] == .int(0))
        #expect(try await stack.contacts(id).isEmpty)
        let again = try await upload(stack, id, "phone,name\r\n" + rows)
        #expect(again.status == 201 && again.json?["inserted_count"] == .int(30_000), "\(again.text)")
    }
}
