import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import FoundationNetworking
import HTTP1
import JSON

/// Where Plivo's API is and who we are to it.
public struct PlivoAccount: Sendable {
    public var apiURL: String
    public var authID: String
    public var authToken: String

    public init(apiURL: String, authID: String, authToken: String) {
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.authID = authID
        self.authToken = authToken
    }

    var authorization: String { "Basic " + Base64.encode(Array("\(authID):\(authToken)".utf8)) }
}

extension PlivoAccount {
    /// Why `apiURL` must not carry our credentials, or nil when it may. Every request sends the
    /// auth id and token as Basic credentials, readable by anyone on the path over plain HTTP: so
    /// `http://` is allowed only to a loopback host (127.0.0.0/8, ::1, `localhost`), unless
    /// `allowInsecureHTTP` (the compose demo, where the simulator is a service name on a private
    /// network).
    public static func apiURLProblem(_ apiURL: String, allowInsecureHTTP: Bool) -> String? {
        guard let url = URL(string: apiURL), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else { return "'\(apiURL)' is not an http(s) URL" }
        guard url.query == nil, url.fragment == nil, url.user == nil, url.password == nil else {
            return "'\(apiURL)' must be a base URL, without query, fragment or user information"
        }
        if scheme == "http" && !allowInsecureHTTP && !isLoopback(host) {
            return "'\(apiURL)' would send the Plivo credentials unencrypted to a host that is not loopback; use https, or set PLIVO_ALLOW_INSECURE_HTTP=1 on a private network"
        }
        return nil
    }

    /// 127.0.0.0/8 in dotted-quad form, ::1, or `localhost`: names that cannot leave the machine.
    public static func isLoopback(_ host: String) -> Bool {
        var bare = host.lowercased()
        if bare.hasPrefix("[") && bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        if bare == "localhost" || bare == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }
}

/// One outbound call request, in Plivo's field names.
public struct PlivoCallRequest: Sendable {
    public var from: String
    public var to: String
    public var answerURL: String
    public var hangupURL: String
    public var ringURL: String
    public var ringTimeout: Int
    public var timeLimit: Int
    /// Voicemail detection: `detect` or `hangup` (nil: none), how long it listens (ms), and where
    /// Plivo posts its verdict (asynchronously, while the call goes on).
    public var machineDetection: String?
    public var machineDetectionTime: Int?
    public var machineDetectionURL: String?

    public init(from: String, to: String, answerURL: String, hangupURL: String, ringURL: String, ringTimeout: Int, timeLimit: Int) {
        self.from = from
        self.to = to
        self.answerURL = answerURL
        self.hangupURL = hangupURL
        self.ringURL = ringURL
        self.ringTimeout = ringTimeout
        self.timeLimit = timeLimit
    }

    var json: JSONValue {
        .object([
            ("from", .string(from)), ("to", .string(to)),
            ("answer_url", .string(answerURL)), ("answer_method", .string("POST")),
            ("hangup_url", .string(hangupURL)), ("hangup_method", .string("POST")),
            ("ring_url", .string(ringURL)), ("ring_method", .string("POST")),
            ("ring_timeout", .int(ringTimeout)), ("time_limit", .int(timeLimit)),
        ] + machineDetectionFields)
    }

    private var machineDetectionFields: [(String, JSONValue)] {
        guard let machineDetection else { return [] }
        var fields: [(String, JSONValue)] = [("machine_detection", .string(machineDetection == "hangup" ? "hangup" : "true"))]
        if let machineDetectionTime { fields.append(("machine_detection_time", .int(machineDetectionTime))) }
        if let machineDetectionURL {
            fields += [("machine_detection_url", .string(machineDetectionURL)), ("machine_detection_method", .string("POST"))]
        }
        return fields
    }
}

/// What became of a call request, sorted by what it means for retrying.
public enum PlivoCallResult: Sendable, Equatable {
    case accepted(requestUUID: String?)
    /// Accepted into Plivo's call queue ("call queued": the account's calls per second are
    /// spent); cancellable by its id until the call starts.
    case queued(requestUUID: String)
    /// Refused for this call (400, 404…): it was surely not placed and retrying will not help.
    case refused(status: Int, message: String)
    /// Our credentials were refused (401/403).
    case unauthorized(status: Int, message: String)
    /// Surely not placed; retry after the delay (429, connection refused, DNS failure).
    case retryLater(reason: String, afterMilliseconds: Int)
    /// The request may have reached Plivo (5xx, timeout, connection lost mid-request).
    case uncertain(reason: String)
    /// Not sent: it could not leave within its go-ahead's slot.
    case missedSlot
}

/// What became of a request to cancel a queued call.
public enum PlivoCancelResult: Sendable, Equatable {
    /// Plivo confirmed it (204): the call will never start.
    case canceled
    /// Plivo holds no such queued request (404): it started, or ended.
    case notQueued
    case unavailable(reason: String)
}

public enum PlivoCallState: Sendable, Equatable {
    case live
    case queued
    case ended(callStatus: String, hangupCause: String?, hangupCauseCode: Int?, durationSeconds: Int?)
    case notFound
    case unavailable(reason: String)
}

/// Plivo's voice API. It never retries a request that may have fired, and never lets the HTTP
/// stack do so behind its back.
///
/// Call requests (`POST …/Call/`) are sent at most once at the socket level, each on a connection
/// of its own: URLSession on Linux is libcurl, which silently re-sends a request on a new
/// connection when a reused keep-alive connection dies before the first response byte, and that
/// would place the call twice. Over `https://` (real Plivo) each call request gets a fresh
/// ephemeral URLSession, invalidated after it, so no connection is ever reused for one; over
/// plain `http://` (the simulator, loopback only unless opted in) the in-tree client opens one
/// connection, sends `Connection: close` and never resends, which costs far less than a session.
/// Lookups and the warm-up (GETs, harmless to repeat) share one keep-alive URLSession.
public struct PlivoClient: Sendable {
    public let account: PlivoAccount
    private let session: URLSession
    private let timeout: Double
    private let plainHTTP: HTTPClient?

    private let userAgent: String

    public init(account: PlivoAccount, timeout: Double, maxConnections: Int, userAgent: String) {
        self.init(account: account, timeout: timeout, maxConnections: maxConnections, userAgent: userAgent, urlSessionOnly: false)
    }

    /// `urlSessionOnly` sends call requests through a one-shot URLSession even over plain HTTP:
    /// how tests check the `https://` path against a plain-HTTP stand-in.
    init(account: PlivoAccount, timeout: Double, maxConnections: Int, userAgent: String, urlSessionOnly: Bool) {
        self.account = account
        self.timeout = timeout
        self.userAgent = userAgent
        session = URLSession(configuration: Self.sessionConfiguration(timeout: timeout, maxConnections: maxConnections))
        plainHTTP = !urlSessionOnly && account.apiURL.lowercased().hasPrefix("http://") ? HTTPClient(timeout: timeout) : nil
    }

    static func sessionConfiguration(timeout: Double, maxConnections: Int) -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.urlCache = nil
        return configuration
    }

    /// - Parameter sendBy: the request leaves only if it can by then (a paced go-ahead's slot);
    ///   otherwise nothing is sent and the answer is `missedSlot`.
    public func placeCall(_ call: PlivoCallRequest, sendBy: ContinuousClock.Instant? = nil) async -> PlivoCallResult {
        do {
            let response = try await sendOnce("POST", "/Call/", body: Array(call.json.serialized()), sendBy: sendBy)
            return Self.classify(status: response.status, retryAfter: response.retryAfter, body: response.body)
        } catch {
            return Self.classify(error)
        }
    }

    /// Cancels a call Plivo holds queued (`DELETE …/Request/{request_uuid}/`). Sent at most once,
    /// like a call request: a cancel re-sent behind our back after the first one worked would be
    /// answered 404, and read as "the call started".
    public func cancelQueued(requestUUID: String) async -> PlivoCancelResult {
        // It goes into the path: an id Plivo could not have given is not one it holds.
        guard !requestUUID.isEmpty, requestUUID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            return .notQueued
        }
        do {
            let response = try await sendOnce("DELETE", "/Request/\(requestUUID)/", body: [], sendBy: nil)
            switch response.status {
            case 200..<300: return .canceled
            case 404: return .notQueued
            default: return .unavailable(reason: "Plivo answered HTTP \(response.status)")
            }
        } catch {
            return .unavailable(reason: "\(error)")
        }
    }

    /// One request to `…/v1/Account/{auth_id}{path}`, sent at most once at the socket level (see
    /// the type's comment). Throws `HTTPClient.Failure` or `URLError`.
    private func sendOnce(_ method: String, _ path: String, body: [UInt8],
                          sendBy: ContinuousClock.Instant?) async throws -> (status: Int, retryAfter: String?, body: [UInt8]) {
        let address = "\(account.apiURL)/v1/Account/\(account.authID)\(path)"
        guard let url = URL(string: address) else { throw HTTPClient.Failure.unsupportedURL(address) }
        var headers = [("Authorization", account.authorization), ("User-Agent", userAgent)]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        // When we sent it (ms since the epoch): lets a receiver tell our pacing from network delay.
        let sentAtHeader = "X-Rymi-Sent-At"
        if let plainHTTP {
            let response = try await plainHTTP.sendOnce(method, address, headers: headers.map { (name: $0.0, value: $0.1) }, body: body,
                                                        sendBy: sendBy, sentAtHeader: sentAtHeader)
            return (response.status, response.headers.first { $0.name.lowercased() == "retry-after" }?.value, response.body)
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        // URLSession connects inside the task; the bound is checked as late as we can see.
        if let sendBy, ContinuousClock.now > sendBy { throw HTTPClient.Failure.deadlinePassed }
        request.setValue(String(format: "%.3f", Date().timeIntervalSince1970 * 1000), forHTTPHeaderField: sentAtHeader)
        if !body.isEmpty { request.httpBody = Data(body) }
        // A session of its own: its connection cache is empty, so libcurl opens a new connection
        // and has no reused one whose death it would "repair" by sending the request again.
        let oneShot = URLSession(configuration: Self.sessionConfiguration(timeout: timeout, maxConnections: 1))
        defer { oneShot.finishTasksAndInvalidate() }
        let (data, http) = try await oneShot.httpResponse(for: request)
        return (http.statusCode, http.value(forHTTPHeaderField: "Retry-After"), Array(data))
    }

    /// What Plivo's answer to a call request means.
    static func classify(status: Int, retryAfter: String?, body: [UInt8]) -> PlivoCallResult {
        let document = try? JSONParser.parse(body)
        let message = document?["error"]?.stringValue ?? document?["message"]?.stringValue ?? String(decoding: body.prefix(200), as: UTF8.self)
        switch status {
        case 200..<300:
            let uuid = document?["request_uuid"]?.stringValue ?? document?["request_uuid"]?.arrayValue?.first?.stringValue
            if let uuid, !uuid.isEmpty, document?["message"]?.stringValue?.lowercased() == "call queued" { return .queued(requestUUID: uuid) }
            return .accepted(requestUUID: uuid)
        case 401, 403:
            return .unauthorized(status: status, message: message)
        case 429:
            let seconds = retryAfter.flatMap(Double.init) ?? 1
            return .retryLater(reason: "Plivo rate limit (429)", afterMilliseconds: Int(seconds * 1000))
        case 400..<500:
            return .refused(status: status, message: message)
        default:
            return .uncertain(reason: "Plivo answered HTTP \(status)")
        }
    }

    /// Reads the account (`GET /v1/Account/{id}/`): checks the credentials and opens a connection
    /// before the first call needs one. Returns the HTTP status, or nil when Plivo is unreachable.
    public func warmUp() async -> Int? {
        try? await get("\(account.apiURL)/v1/Account/\(account.authID)/").1.statusCode
    }

    /// Live calls first, then queued ones, then the call record of ended ones.
    public func lookup(callUUID: String) async -> PlivoCallState {
        let base = "\(account.apiURL)/v1/Account/\(account.authID)/Call/\(callUUID)/"
        do {
            let (_, live) = try await get(base + "?status=live")
            if (200..<300).contains(live.statusCode) { return .live }
            let (_, queued) = try await get(base + "?status=queued")
            if (200..<300).contains(queued.statusCode) { return .queued }
            let (body, record) = try await get(base)
            if record.statusCode == 404 { return .notFound }
            guard (200..<300).contains(record.statusCode), let document = try? JSONParser.parse(Array(body)) else {
                return .unavailable(reason: "Plivo answered HTTP \(record.statusCode)")
            }
            let code = document["hangup_cause_code"]?.intValue
            let status = document["call_status"]?.stringValue ?? Self.callStatus(forHangupCode: code, answered: document["answer_time"].map { $0 != .null } ?? false)
            let duration = document["call_duration"]?.intValue ?? document["duration"]?.intValue
            return .ended(callStatus: status, hangupCause: document["hangup_cause_name"]?.stringValue, hangupCauseCode: code, durationSeconds: duration)
        } catch {
            return .unavailable(reason: "\(error)")
        }
    }

    /// A call record carries a hangup cause, not a CallStatus; this recovers the status.
    static func callStatus(forHangupCode code: Int?, answered: Bool) -> String {
        switch code {
        case 4000, 4010: return "completed"
        case 3010, 3100: return "busy"
        case 3000, 6010: return "no-answer"
        case 1000: return "cancel"
        case nil: return answered ? "completed" : "failed"
        default: return answered ? "completed" : "failed"
        }
    }

    private func get(_ address: String) async throws -> (Data, HTTPURLResponse) {
        guard let url = URL(string: address) else { throw URLError(.badURL) }
        var request = URLRequest(url: url)
        request.setValue(account.authorization, forHTTPHeaderField: "Authorization")
        return try await send(request)
    }

    private func send(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        try await session.httpResponse(for: request)
    }

    /// Transport failures: only those that prove the request never left are safe to retry.
    static func classify(_ error: any Error) -> PlivoCallResult {
        if let failure = error as? HTTPClient.Failure {
            switch failure {
            case .connectionFailed(let reason):
                // Thrown only before a byte of the request was written.
                return .retryLater(reason: "cannot reach Plivo: \(reason)", afterMilliseconds: 1000)
            case .unsupportedURL(let url):
                return .refused(status: 0, message: "PLIVO_API_URL does not form a valid URL: \(url)")
            case .deadlinePassed:
                return .missedSlot
            case .closedEarly, .timedOut, .malformedResponse:
                return .uncertain(reason: "request outcome unknown: \(failure)")
            }
        }
        guard let urlError = error as? URLError else { return .uncertain(reason: "\(error)") }
        switch urlError.code {
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet, .badURL, .unsupportedURL:
            return .retryLater(reason: "cannot reach Plivo: \(urlError.code.rawValue)", afterMilliseconds: 1000)
        default:
            return .uncertain(reason: "request outcome unknown: URLError \(urlError.code.rawValue)")
        }
    }
}
