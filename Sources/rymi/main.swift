import Client
import Foundation
import JSON

/// `rymi`: the Campaigns API from a shell. Reads RYMI_URL and RYMI_API_KEY; `--json` prints the
/// API's answers as they are; failures print the API's message and exit 1 (usage errors 2).
let usage = """
    usage: rymi [--json] <command>
      campaigns create --name NAME --agent-id ID [--from NUMBER] [--timezone ZONE] [--default-country CC]
      campaigns list
      campaigns show CAMPAIGN
      campaigns start|pause|resume|cancel CAMPAIGN
      contacts upload CAMPAIGN FILE.csv|FILE.json
      watch CAMPAIGN [--interval SECONDS]
    environment: RYMI_URL (default http://127.0.0.1:8080), RYMI_API_KEY
    """

struct UsageError: Error {
    let message: String
}

/// The words of the command line, with `--json` taken out wherever it was.
struct Arguments {
    var words: [String]
    let json: Bool

    init(_ all: [String]) {
        json = all.contains("--json")
        words = all.filter { $0 != "--json" }
    }

    mutating func next(_ what: String) throws -> String {
        guard !words.isEmpty else { throw UsageError(message: "missing \(what)") }
        return words.removeFirst()
    }

    /// `--name value` pairs; each option at most once, none unknown.
    mutating func options(_ known: Set<String>) throws -> [String: String] {
        var options: [String: String] = [:]
        while let option = words.first {
            guard known.contains(option) else { throw UsageError(message: "unknown option \(option)") }
            words.removeFirst()
            guard let value = words.first, !value.hasPrefix("--") else { throw UsageError(message: "\(option) needs a value") }
            words.removeFirst()
            guard options.updateValue(value, forKey: option) == nil else { throw UsageError(message: "\(option) given twice") }
        }
        return options
    }

    func done() throws {
        if let extra = words.first { throw UsageError(message: "unexpected \(extra)") }
    }
}

let standardErrorIsTerminal = isatty(STDERR_FILENO) == 1
let standardOutputIsTerminal = isatty(STDOUT_FILENO) == 1

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func show(_ value: JSONValue, json: Bool, _ human: (JSONValue) -> String) {
    print(json ? String(decoding: value.serialized(), as: UTF8.self) : human(value))
}

func counts(_ campaign: JSONValue) -> String {
    let counts = campaign["contact_counts"]
    return ["pending", "dialed", "completed", "failed", "skipped_dnc", "canceled", "expired"].compactMap { name in
        guard let count = counts?[name]?.intValue, count > 0 else { return nil }
        return "\(name) \(count)"
    }.joined(separator: ", ")
}

func summary(_ campaign: JSONValue) -> String {
    let id = campaign["id"]?.stringValue ?? "?"
    let status = campaign["status"]?.stringValue ?? "?"
    let total = campaign["contact_counts"]?["total"]?.intValue ?? 0
    return "\(id)  \(status)  \(campaign["name"]?.stringValue ?? "")  \(total) contacts\(total > 0 ? " (" + counts(campaign) + ")" : "")"
}

/// `[█████░░░░░] 52%`: the share of contacts that reached a final status.
func progressLine(_ campaign: JSONValue) -> String {
    let tally = campaign["contact_counts"]
    let total = tally?["total"]?.intValue ?? 0
    let open = (tally?["pending"]?.intValue ?? 0) + (tally?["dialed"]?.intValue ?? 0)
    let share = total == 0 ? 0 : Double(total - open) / Double(total)
    let filled = Int((share * 20).rounded(.down))
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled)
    return "\(campaign["id"]?.stringValue ?? "")  \(campaign["status"]?.stringValue ?? "")  [\(bar)] \(Int(share * 100))%  \(counts(campaign))"
}

func run(_ arguments: inout Arguments, _ client: RymiClient) async throws {
    let json = arguments.json
    switch try arguments.next("a command") {
    case "campaigns":
        switch try arguments.next("a campaigns command (create, list, show, start, pause, resume, cancel)") {
        case "create":
            let options = try arguments.options(["--name", "--agent-id", "--from", "--timezone", "--default-country"])
            guard let name = options["--name"], let agent = options["--agent-id"] else { throw UsageError(message: "create needs --name and --agent-id") }
            var body: [(key: String, value: JSONValue)] = [("name", .string(name)), ("agent_id", .string(agent))]
            if let from = options["--from"] { body.append(("call_from_number", .string(from))) }
            if let zone = options["--timezone"] { body.append(("timezone", .string(zone))) }
            if let country = options["--default-country"] { body.append(("default_country", .string(country))) }
            let created = try await client.call("POST", "/v1/campaigns", body: .object(body))
            show(created, json: json) { "created \($0["campaign_id"]?.stringValue ?? "")" }
        case "list":
            try arguments.done()
            var all: [JSONValue] = []
            var cursor: String?
            repeat {
                let page = try await client.call("GET", "/v1/campaigns?limit=100" + (cursor.map { "&cursor=" + RymiClient.segment($0) } ?? ""))
                all += page["campaigns"]?.arrayValue ?? []
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            show(.array(all), json: json) { _ in all.isEmpty ? "no campaigns" : all.map(summary).joined(separator: "\n") }
        case "show":
            let id = try arguments.next("a campaign id")
            try arguments.done()
            show(try await client.call("GET", "/v1/campaigns/\(RymiClient.segment(id))"), json: json, summary)
        case let verb where ["start", "pause", "resume", "cancel"].contains(verb):
            let id = try arguments.next("a campaign id")
            try arguments.done()
            let answer = try await client.call("POST", "/v1/campaigns/\(RymiClient.segment(id))/\(verb)")
            show(answer, json: json) { answer in
                verb == "start"
                    ? "started \(id): \(answer["contacts_dialed"]?.intValue ?? 0) to call, \(answer["contacts_skipped_dnc"]?.intValue ?? 0) skipped (Do-Not-Call)"
                    : "\(answer["status"]?.stringValue ?? verb) \(id)"
            }
        case let other:
            throw UsageError(message: "unknown campaigns command \(other)")
        }
    case "contacts":
        guard try arguments.next("a contacts command (upload)") == "upload" else { throw UsageError(message: "the contacts command is upload") }
        let id = try arguments.next("a campaign id")
        let path = try arguments.next("a file")
        try arguments.done()
        let file = URL(fileURLWithPath: path)
        guard FileManager.default.isReadableFile(atPath: file.path) else { throw UsageError(message: "cannot read \(path)") }
        let showProgress = standardErrorIsTerminal
        let answer = try await client.uploadContacts(campaign: id, file: file) { sent, total in
            guard showProgress, total > 0 else { return }
            let share = Double(sent) / Double(total)
            FileHandle.standardError.write(Data(String(format: "\ruploading %3d%%  %.1f of %.1f MB", Int(share * 100), Double(sent) / 1e6, Double(total) / 1e6).utf8))
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        show(answer, json: json) { answer in
            var line = "inserted \(answer["inserted_count"]?.intValue ?? 0), skipped \(answer["skipped_duplicates"]?.intValue ?? 0) duplicates"
            if let rejected = answer["rejected_count"]?.intValue { line += ", rejected \(rejected)" }
            return line
        }
    case "watch":
        let id = try arguments.next("a campaign id")
        let options = try arguments.options(["--interval"])
        try arguments.done()
        guard let interval = Double(options["--interval"] ?? "1"), interval >= 0.1 else { throw UsageError(message: "--interval must be at least 0.1 seconds") }
        var last = ""
        while true {
            let campaign = try await client.call("GET", "/v1/campaigns/\(RymiClient.segment(id))")
            let status = campaign["status"]?.stringValue ?? ""
            let done = status == "completed" || status == "canceled"
            if json {
                let line = String(decoding: campaign.serialized(), as: UTF8.self)
                if line != last || done { print(line) }
                last = line
            } else if standardOutputIsTerminal {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + progressLine(campaign) + (done ? "\n" : "")).utf8))
            } else {
                let line = progressLine(campaign)
                if line != last { print(line) }
                last = line
            }
            if done { return }
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    case "help", "--help", "-h":
        print(usage)
    case let other:
        throw UsageError(message: "unknown command \(other)")
    }
}

func main() async {
    var arguments = Arguments(Array(CommandLine.arguments.dropFirst()))
    do {
        if arguments.words.isEmpty { throw UsageError(message: "missing a command") }
        if ["help", "--help", "-h"].contains(arguments.words.first!) {
            print(usage)
            exit(0)
        }
        let client = try RymiClient.fromEnvironment()
        try await run(&arguments, client)
    } catch let error as UsageError {
        printError("rymi: \(error.message)\n\(usage)")
        exit(2)
    } catch {
        printError("rymi: \(error)")
        exit(1)
    }
}

await main()
