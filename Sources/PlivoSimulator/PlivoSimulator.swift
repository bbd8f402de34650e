import Crypto
import Foundation
import FoundationNetworking
import HTTP1
import JSON
import Plivo
import Runtime

/// `rymi-plivo-sim`: Plivo's call API on loopback. It checks credentials and parameters like
/// Plivo, plays each call (ring, answer, hangup callbacks, signed V3), injects faults on
/// request, and shows what it was asked to dial (`GET /sim/calls`) so tests can prove nobody was
/// called twice. The `/sim/*` control endpoints are for the operator only (`controlRefusal`).
public final class PlivoSimulator: Service {
    public let http: HTTPServer

    public init(configuration: SimulatorConfiguration, logger: Logger) throws {
        let engine = SimulatorEngine(configuration: configuration, logger: logger)
        var httpConfiguration = HTTPServerConfiguration()
        httpConfiguration.limits = HTTPLimits(maxBodyBytes: 1024 * 1024)
        http = try HTTPServer(address: configuration.address, configuration: httpConfiguration, logger: logger) { request in
            await engine.handle(request)
        }
        logger.announce("listening", ["addr": http.localAddress.description, "auth_id": configuration.authID])
        if configuration.controlAccess == .disabled {
            logger.warning("sim_control_disabled", ["reason": "listening beyond loopback without RYMI_SIM_CONTROL_TOKEN: /sim/* answer 404"])
        }
    }

    public func run() async throws { try await http.run() }
    public func shutdown() async { await http.shutdown() }
}

/// The simulator's behaviour, apart from its HTTP server.
final class SimulatorEngine: Sendable {
    private let configuration: SimulatorConfiguration
    private let state: SimulatorState
    private let logger: Logger
    private let session: URLSession
    private let client = HTTPClient(timeout: 10)

    init(configuration: SimulatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        state = SimulatorState(faults: configuration.faults, callsPerSecond: configuration.callsPerSecond)
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = 10
        sessionConfiguration.httpMaximumConnectionsPerHost = 64
        session = URLSession(configuration: sessionConfiguration)
    }

    // MARK: Routing

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let parts = request.path.split(separator: "/").map(String.init)
        if parts.first == "sim", let refusal = controlRefusal(request) { return refusal }
        switch (request.method, parts.count) {
        case ("GET", 1) where parts[0] == "healthz":
            return .json(200, .object([("status", .string("ok"))]))
        case ("GET", 2) where parts == ["sim", "calls"]:
            return .json(200, await state.report())
        case ("POST", 2) where parts == ["sim", "faults"]:
            guard let text = String(validating: request.body, as: UTF8.self), let faults = try? Faults(parsing: text, variable: "body") else {
                return Self.plivoError(400, "body must be fault=probability[,…]")
            }
            await state.setFaults(faults)
            return .json(200, .object([("status", .string("ok"))]))
        default:
            break
        }
        guard parts.count >= 3, parts[0] == "v1", parts[1] == "Account" else { return Self.plivoError(404, "not found") }
        guard parts[2] == configuration.authID, request.header("Authorization") == Self.basic(configuration) else {
            return Self.plivoError(401, "authentication failed")
        }
        if parts.count == 3, request.method == "GET" {
            return .json(200, .object([
                ("account_type", .string("standard")), ("auth_id", .string(configuration.authID)), ("name", .string("Rymi simulator")),
                ("resource_uri", .string("/v1/Account/\(configuration.authID)/")),
            ]))
        }
        guard parts.count >= 4 else { return Self.plivoError(404, "not found") }
        switch (request.method, parts.count, parts[3]) {
        case ("POST", 4, "Call"): return await createCall(request)
        case ("GET", 4, "Call"): return await listCalls(Self.statusFilter(request.query))
        case ("GET", 5, "Call"): return await getCall(parts[4], Self.statusFilter(request.query))
        case ("DELETE", 5, "Request"): return await state.cancel(parts[4]) ? HTTPResponse(status: 204) : Self.plivoError(404, "not found")
        default: return Self.plivoError(405, "method not allowed")
        }
    }

    /// Why a `/sim/*` request is refused, or nil when its sender is the operator: on a loopback
    /// listener anyone on the machine is; beyond it only the bearer of RYMI_SIM_CONTROL_TOKEN, and
    /// without a token the endpoints do not exist (404), so nothing on the network can read who
    /// was called or inject faults.
    func controlRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        switch configuration.controlAccess {
        case .loopbackListener:
            return nil
        case .disabled:
            return Self.plivoError(404, "not found")
        case .token(let token):
            let presented = Array((request.header("Authorization") ?? "").utf8)
            guard constantTimeEquals(presented, Array("Bearer \(token)".utf8)) else {
                var refusal = Self.plivoError(401, "the simulator's control endpoints need Authorization: Bearer <RYMI_SIM_CONTROL_TOKEN>")
                refusal.headers.append(("WWW-Authenticate", "Bearer"))
                return refusal
            }
            return nil
        }
    }

    static func basic(_ configuration: SimulatorConfiguration) -> String {
        "Basic " + Base64.encode(Array("\(configuration.authID):\(configuration.authToken)".utf8))
    }

    static func plivoError(_ status: Int, _ message: String) -> HTTPResponse {
        .json(status, .object([("api_id", .string(UUID().uuidString.lowercased())), ("error", .string(message))]))
    }

    // MARK: Making calls

    private func createCall(_ request: HTTPRequest) async -> HTTPResponse {
        let fields: [String: String]
        if let json = try? JSONParser.parse(request.body), let members = json.objectMembers {
            fields = Dictionary(members.map { ($0.key, $0.value.stringValue ?? $0.value.jsonText) }, uniquingKeysWith: { $1 })
        } else if let text = String(validating: request.body, as: UTF8.self), let pairs = FormEncoding.decodePairs(text[...]) {
            fields = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        } else {
            return Self.plivoError(400, "invalid request body")
        }
        for required in ["from", "to", "answer_url"] where (fields[required] ?? "").isEmpty {
            return Self.plivoError(400, "\(required) parameter is missing")
        }
        let faults = await state.faults
        let to = fields["to"] ?? ""
        let agent = request.header("User-Agent") ?? ""
        if Double.random(in: 0..<1) < faults.http401 { return await state.logRequest(to: to, agent: agent, Self.plivoError(401, "authentication failed")) }
        if Double.random(in: 0..<1) < faults.http429 { return await state.logRequest(to: to, agent: agent, Self.plivoError(429, "too many requests")) }
        if Double.random(in: 0..<1) < faults.http500 { return await state.logRequest(to: to, agent: agent, Self.plivoError(500, "internal server error")) }

        // A machine answers every call it gets.
        let machine = to.last.map(configuration.machineDigits.contains) ?? false
        let outcome = machine ? "completed" : chooseOutcome(for: to)
        let sentAt = request.header("X-Rymi-Sent-At").flatMap(Double.init).map { $0 / 1000 }
        let call = await state.record(fields: fields, outcome: outcome, sentAt: sentAt, receivedAt: request.receivedAt)
        Task { await self.play(call) }

        if Double.random(in: 0..<1) < faults.http500AfterFiring { return await state.logRequest(to: to, agent: agent, Self.plivoError(500, "internal server error")) }
        if Double.random(in: 0..<1) < faults.reset {
            var reset = HTTPResponse(status: 0)
            reset.resetsConnection = true
            return await state.logRequest(to: to, agent: agent, reset)
        }
        if Double.random(in: 0..<1) < faults.slow { try? await Task.sleep(for: .milliseconds(faults.slowMilliseconds)) }
        if Double.random(in: 0..<1) < faults.malformed {
            return await state.logRequest(to: to, agent: agent, HTTPResponse(status: 201, headers: [("Content-Type", "text/html")], body: Array("<html>oops".utf8)))
        }
        return await state.logRequest(to: to, agent: agent, .json(201, .object([
            ("message", .string(call.queued ? "call queued" : "call fired")),
            ("request_uuid", .string(call.requestUUID)),
            ("api_id", .string(UUID().uuidString.lowercased())),
        ])))
    }

    /// The same number always ends the same way, so tests can predict exact counts.
    func chooseOutcome(for number: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in number.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let total = configuration.outcomes.reduce(0) { $0 + $1.weight }
        var pick = Int(hash % UInt64(total))
        for outcome in configuration.outcomes {
            if pick < outcome.weight { return outcome.status }
            pick -= outcome.weight
        }
        return configuration.outcomes[0].status
    }

    /// Which calls a GET asks for: `?status=live`, `?status=queued`, or ended ones (nil).
    static func statusFilter(_ query: Substring?) -> String? {
        let pairs = query.flatMap { FormEncoding.decodePairs($0[...]) } ?? []
        return pairs.first { $0.key == "status" && ($0.value == "live" || $0.value == "queued") }.map { String($0.value) }
    }

    /// Live: ringing or in progress. Queued: held for the account's rate, not started yet.
    static func isIn(_ call: SimulatedCall, _ status: String) -> Bool {
        status == "queued" ? call.state == "queued" : call.state == "ringing" || call.state == "in-progress"
    }

    private func getCall(_ uuid: String, _ status: String?) async -> HTTPResponse {
        guard let call = await state.call(uuid) else { return Self.plivoError(404, "call not found") }
        if let status {
            guard Self.isIn(call, status) else { return Self.plivoError(404, "call not found") }
            return .json(200, .object([
                ("api_id", .string(UUID().uuidString.lowercased())), ("call_status", .string(call.state)),
                ("call_uuid", .string(status == "queued" ? call.requestUUID : call.callUUID)),
                ("direction", .string("outbound")), ("from", .string(call.from)), ("request_uuid", .string(call.requestUUID)), ("to", .string(call.to)),
            ]))
        }
        guard let record = record(of: call) else { return Self.plivoError(404, "call not found") }
        return .json(200, record)
    }

    /// Plivo's call record of an ended call (`GET …/Call/{uuid}/`, and each of a list's objects).
    private func record(of call: SimulatedCall) -> JSONValue? {
        guard let hangup = call.hangup else { return nil }
        return .object([
            ("api_id", .string(UUID().uuidString.lowercased())), ("answer_time", call.outcome == "completed" ? .string("2026-01-01 00:00:00+00:00") : .null),
            ("bill_duration", .int(hangup.duration)), ("call_direction", .string("outbound")), ("call_duration", .int(hangup.duration)),
            ("call_status", .string(call.outcome)), ("call_uuid", .string(call.callUUID)), ("from_number", .string(call.from)),
            ("hangup_cause_code", .int(hangup.code)), ("hangup_cause_name", .string(hangup.cause)), ("to_number", .string(call.to)),
            ("resource_uri", .string("/v1/Account/\(configuration.authID)/Call/\(call.callUUID)/")),
        ])
    }

    /// `GET …/Call/`: ended calls in Plivo's list shape (`meta` and `objects`), newest first; with
    /// `?status=live` or `?status=queued`, the ids of those calls (`calls`), as Plivo answers.
    private func listCalls(_ status: String?) async -> HTTPResponse {
        let calls = await state.allCalls()
        if let status {
            let ids = calls.filter { Self.isIn($0, status) }.map { JSONValue.string(status == "queued" ? $0.requestUUID : $0.callUUID) }
            return .json(200, .object([("api_id", .string(UUID().uuidString.lowercased())), ("calls", .array(ids))]))
        }
        let ended = calls.reversed().compactMap { record(of: $0) }
        let page = Array(ended.prefix(20))
        return .json(200, .object([
            ("api_id", .string(UUID().uuidString.lowercased())),
            ("meta", .object([("limit", .int(20)), ("next", .null), ("offset", .int(0)), ("previous", .null), ("total_count", .int(ended.count))])),
            ("objects", .array(page)),
        ]))
    }

    // MARK: Playing a call

    static func hangupCause(for outcome: String) -> (name: String, code: Int) {
        switch outcome {
        case "completed": return ("Normal Hangup", 4000)
        case "busy": return ("Busy Line", 3010)
        case "no-answer": return ("No Answer", 3000)
        case "timeout": return ("Ring Timeout Reached", 6010)
        case "cancel": return ("Canceled", 1000)
        default: return ("Destination Out Of Service", 2010)
        }
    }

    private func play(_ call: SimulatedCall) async {
        if let delay = call.startDelay { try? await Task.sleep(for: delay) }
        guard await state.start(call.requestUUID) else { return }
        try? await Task.sleep(for: .milliseconds(configuration.ringMilliseconds))
        await state.setState(call.requestUUID, "ringing")
        await callback(call, url: call.ringURL, fields: [("CallStatus", "ringing"), ("Event", "Ring")])
        var duration = 0
        var cause = Self.hangupCause(for: call.outcome)
        if call.outcome == "completed" {
            await state.setState(call.requestUUID, "in-progress")
            let xml = await callback(call, url: call.answerURL, fields: [("CallStatus", "in-progress"), ("Event", "StartApp")])
            await state.setAnswer(call.requestUUID, xml: xml)
            // Voicemail detection listens a moment, then says who answered; in `hangup` mode
            // Plivo ends a machine's call there (cause 9100).
            let machine = call.to.last.map(configuration.machineDigits.contains) ?? false
            if let mode = call.machineDetection {
                try? await Task.sleep(for: .milliseconds(min(configuration.talkMilliseconds / 2, 500)))
                await callback(call, url: call.machineDetectionURL, fields: [("CallStatus", "in-progress"), ("Event", "MachineDetection"),
                                                                             ("Machine", machine ? "true" : "false")])
                if machine && mode == "hangup" { cause = ("Machine Detected", 9100) }
            }
            if cause.code != 9100 { try? await Task.sleep(for: .milliseconds(configuration.talkMilliseconds)) }
            duration = max(1, (configuration.talkMilliseconds + 999) / 1000)
        }
        await state.finish(call.requestUUID, cause: cause.name, code: cause.code, duration: duration)
        await callback(call, url: call.hangupURL, fields: [
            ("CallStatus", call.outcome), ("Event", "Hangup"), ("HangupCause", cause.name), ("HangupCauseName", cause.name),
            ("HangupCauseCode", String(cause.code)), ("HangupSource", "Callee"), ("Duration", String(duration)), ("BillDuration", String(duration)),
        ])
    }

    /// One POST; the body of a 2xx answer, nil otherwise. Plain-HTTP callbacks (the usual case
    /// on one machine) go over the in-tree client, which costs far less CPU than URLSession.
    private func post(_ url: String, _ target: URL, headers: [(String, String)], body: [UInt8]) async -> [UInt8]? {
        if url.hasPrefix("http://") {
            guard let response = try? await client.send("POST", url, headers: headers.map { (name: $0.0, value: $0.1) }, body: body),
                  (200..<300).contains(response.status) else { return nil }
            return response.body
        }
        var request = URLRequest(url: target)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Data(body)
        guard let (data, response) = try? await session.httpResponse(for: request), (200..<300).contains(response.statusCode) else { return nil }
        return [UInt8](data)
    }

    /// Sends one signed callback, retrying on failure like Plivo; returns the response body.
    @discardableResult
    private func callback(_ call: SimulatedCall, url: String?, fields: [(String, String)]) async -> String? {
        guard let url, let target = URL(string: url) else { return nil }
        if Double.random(in: 0..<1) < (await state.faults.dropCallbacks) { return nil }
        let parameters = fields + [
            ("CallUUID", call.callUUID), ("RequestUUID", call.requestUUID), ("ALegUUID", call.callUUID), ("ALegRequestUUID", call.requestUUID),
            ("From", call.from), ("To", call.to), ("Direction", "outbound"),
        ]
        for attempt in 0...configuration.callbackRetries {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(500 * attempt)) }
            let nonce = String((0..<20).map { _ in Character(String(Int.random(in: 0...9))) })
            let headers = [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Plivo-Signature-V3", PlivoSignature.v3(url: url, method: "POST", parameters: parameters, nonce: nonce, authToken: configuration.authToken)),
                ("X-Plivo-Signature-V3-Nonce", nonce),
            ]
            if let body = await post(url, target, headers: headers, body: Array(FormEncoding.encodePairs(parameters).utf8)) {
                await state.delivered(call.requestUUID, fields.first(where: { $0.0 == "Event" })?.1 ?? "")
                return String(decoding: body, as: UTF8.self)
            }
        }
        logger.warning("callback_undelivered", ["url": url])
        return nil
    }
}

/// A call the simulator was asked to make.
struct SimulatedCall: Sendable {
    let requestUUID: String
    let callUUID: String
    let from: String
    let to: String
    let answerURL: String
    let hangupURL: String?
    let ringURL: String?
    /// `true` or `hangup` when the request asked for voicemail detection, and where to post it.
    let machineDetection: String?
    let machineDetectionURL: String?
    let receivedAt: Double
    /// When the client says it sent the request, if it says.
    let sentAt: Double?
    let outcome: String
    let queued: Bool
    let startDelay: Duration?
    /// When it starts (or started), with `RYMI_SIM_CPS`.
    let startsAt: ContinuousClock.Instant?
    /// `queued` (held for the account's rate), `initiated`, `ringing`, `in-progress`, `cancel`
    /// (canceled while queued), then the outcome.
    var state: String
    var answerXML: String?
    var hangup: (cause: String, code: Int, duration: Int)?
    var canceled = false
    var deliveredEvents: [String] = []
}

actor SimulatorState {
    private var calls: [SimulatedCall] = []
    /// Every call request with its answer, in arrival order: what "never twice" is checked on.
    private var requests: [(to: String, agent: String, status: Int, at: Double)] = []
    private var index: [String: Int] = [:]
    private(set) var faults: Faults
    private let callsPerSecond: Double
    private var nextStart: ContinuousClock.Instant?

    init(faults: Faults, callsPerSecond: Double) {
        self.faults = faults
        self.callsPerSecond = callsPerSecond
    }

    func setFaults(_ faults: Faults) { self.faults = faults }

    func logRequest(to: String, agent: String, _ response: HTTPResponse) -> HTTPResponse {
        requests.append((to, agent, response.status, Date().timeIntervalSince1970))
        return response
    }

    func record(fields: [String: String], outcome: String, sentAt: Double?, receivedAt: Double) -> SimulatedCall {
        let now = ContinuousClock.now
        var delay: Duration?
        var startsAt: ContinuousClock.Instant?
        if callsPerSecond > 0 {
            let start = max(now, nextStart ?? now)
            nextStart = start + startInterval
            startsAt = start
            if start > now { delay = start - now }
        }
        let call = SimulatedCall(
            requestUUID: UUID().uuidString.lowercased(), callUUID: UUID().uuidString.lowercased(),
            from: fields["from"] ?? "", to: fields["to"] ?? "", answerURL: fields["answer_url"] ?? "",
            hangupURL: fields["hangup_url"], ringURL: fields["ring_url"],
            machineDetection: fields["machine_detection"].flatMap { ["true", "hangup"].contains($0.lowercased()) ? $0.lowercased() : nil },
            machineDetectionURL: fields["machine_detection_url"], receivedAt: receivedAt,
            sentAt: sentAt, outcome: outcome, queued: delay != nil, startDelay: delay, startsAt: startsAt, state: delay != nil ? "queued" : "initiated"
        )
        index[call.requestUUID] = calls.count
        index[call.callUUID] = calls.count
        calls.append(call)
        return call
    }

    func call(_ uuid: String) -> SimulatedCall? { index[uuid].map { calls[$0] } }

    func allCalls() -> [SimulatedCall] { calls }

    private var startInterval: Duration { .nanoseconds(Int64(1e9 / callsPerSecond)) }

    /// Cancels a queued call; the queue's end moves back to the last call still to start, so
    /// canceled calls free their places as they do at Plivo.
    func cancel(_ uuid: String) -> Bool {
        guard let position = index[uuid], calls[position].state == "queued" else { return false }
        calls[position].canceled = true
        calls[position].state = "cancel"
        nextStart = calls.lazy.filter { !$0.canceled }.compactMap(\.startsAt).max().map { $0 + startInterval }
        return true
    }

    /// The call leaves the queue and starts, unless it was canceled there.
    func start(_ uuid: String) -> Bool {
        guard let position = index[uuid], !calls[position].canceled else { return false }
        calls[position].state = "initiated"
        return true
    }

    func setState(_ uuid: String, _ state: String) {
        guard let position = index[uuid] else { return }
        calls[position].state = state
    }

    func setAnswer(_ uuid: String, xml: String?) {
        guard let position = index[uuid] else { return }
        calls[position].answerXML = xml
    }

    func finish(_ uuid: String, cause: String, code: Int, duration: Int) {
        guard let position = index[uuid] else { return }
        calls[position].hangup = (cause, code, duration)
        calls[position].state = calls[position].outcome
    }

    func delivered(_ uuid: String, _ event: String) {
        guard let position = index[uuid] else { return }
        calls[position].deliveredEvents.append(event)
    }

    func report() -> JSONValue {
        .object([
            ("count", .int(calls.count)),
            ("requests", .array(requests.map { request in
                .object([("to", .string(request.to)), ("user_agent", .string(request.agent)), ("status", .int(request.status)),
                         ("at", .number(String(format: "%.6f", request.at)))])
            })),
            ("calls", .array(calls.map { call in
                .object([
                    ("request_uuid", .string(call.requestUUID)), ("call_uuid", .string(call.callUUID)),
                    ("from", .string(call.from)), ("to", .string(call.to)), ("answer_url", .string(call.answerURL)),
                    ("received_at", .number(String(format: "%.6f", call.receivedAt))),
                    ("sent_at", call.sentAt.map { .number(String(format: "%.6f", $0)) } ?? .null), ("outcome", .string(call.outcome)),
                    ("state", .string(call.state)), ("answer_xml", call.answerXML.map(JSONValue.string) ?? .null),
                    ("events", .array(call.deliveredEvents.map(JSONValue.string))),
                ])
            })),
        ])
    }
}
