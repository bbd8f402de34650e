import Foundation
import JSON
import Testing

/// docs/openapi.yaml, as served at /openapi.json: the document written, valid, and every
/// operation in it a route of ours.
@Suite struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    @Test func theServedDocumentIsTheWrittenOneAndValid() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let served = try await stack.client.request("GET", "/openapi.json", key: nil)
        #expect(served.status == 200 && served.header("Content-Type") == "application/json")
        // Python's yaml reads the file as written; openapi-spec-validator (from PyPI) judges it.
        let script = """
            import json, sys, urllib.request, yaml
            from openapi_spec_validator import validate
            written = yaml.safe_load(open(sys.argv[1]))
            served = json.load(urllib.request.urlopen(sys.argv[2]))
            assert served == written, "the served document is not docs/openapi.yaml: run python3 scripts/openapi.py"
            validate(served)
            print("valid", len(served["paths"]))
            """
        let (status, output) = try await runTool(["python3", "-c", script, Self.root.appendingPathComponent("docs/openapi.yaml").path,
                                                  "http://127.0.0.1:\(stack.client.port)/openapi.json"])
        #expect(status == 0, "\(String(decoding: output, as: UTF8.self))")
    }

    /// Each documented method and path reaches a handler: a 404 is the resource's, never "no route".
    @Test func everyDocumentedOperationIsARoute() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let document = try #require(try await stack.client.request("GET", "/openapi.json", key: nil).json)
        var checked = 0
        for (path, item) in document["paths"]?.objectMembers ?? [] {
            for (method, _) in item.objectMembers ?? [] where ["get", "post", "put", "delete"].contains(method) {
                let concrete = path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "x", options: .regularExpression)
                let answer = try await stack.client.request(method.uppercased(), concrete, json: method == "get" || method == "delete" ? nil : "{}")
                let message = answer.json?["error"]?["message"]?.stringValue ?? ""
                #expect(!message.hasPrefix("no route") && answer.status != 405, "\(method.uppercased()) \(path): \(answer.status) \(message)")
                checked += 1
            }
        }
        #expect(checked >= 30)
    }

    /// Schemathesis (from PyPI) generates requests from the document, bounded and seeded: no
    /// answer may be a server error, or disagree with the document (status, content type,
    /// schema, headers); a method the document does not list must be 405. Requests the schema
    /// allows but the API refuses for what a schema cannot say (an `end_at` in the past, a
    /// country code no one has) are 422s, so the check that every schema-valid request is taken
    /// is left out.
    @Test func schemathesisFindsNoServerErrorAndNoDisagreement() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let base = "http://127.0.0.1:\(stack.client.port)"
        let (status, output) = try await runTool([
            "schemathesis", "run", base + "/openapi.json", "--url", base, "-H", "Authorization: Bearer \(Keys.acme)",
            "--max-examples", "5", "--seed", "1", "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--no-color",
        ])
        let text = String(decoding: output, as: UTF8.self)
        #expect(status == 0, "\(text.suffix(4000))")
    }

    /// A Python client generated from the served document by openapi-python-client (from PyPI)
    /// runs a whole campaign against the simulator: create, upload, start, poll to completed.
    @Test func aGeneratedPythonClientRunsAWholeCampaign() async throws {
        let stack = try await Stack.start(StackOptions.dialing())
        defer { stack.stop() }
        let base = "http://127.0.0.1:\(stack.client.port)"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rymi-generated-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let document = try await stack.client.request("GET", "/openapi.json", key: nil)
        try Data(document.body).write(to: directory.appendingPathComponent("openapi.json"))
        let generated = try await runTool(["openapi-python-client", "generate", "--path", directory.appendingPathComponent("openapi.json").path,
                                           "--meta", "none", "--output-path", directory.appendingPathComponent("rymi_client").path])
        #expect(generated.status == 0, "\(String(decoding: generated.output, as: UTF8.self).suffix(3000))")
        let script = Self.root.appendingPathComponent("Tests/SystemTests/Scripts/generated_client_campaign.py").path
        // Numbers with no area code of their own: the campaign's zone, where it is midday, applies.
        let run = try await runTool(["python3", script, base, Keys.acme, directory.path, middayZone, phoneNumbers(8).joined(separator: ",")])
        let text = String(decoding: run.output, as: UTF8.self)
        #expect(run.status == 0 && text.hasPrefix("completed "), "\(text.suffix(3000))")
    }
}
