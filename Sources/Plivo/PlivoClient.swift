import Crypto
import Foundation
import FoundationNetworking
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

/// One outbound call request, in Plivo's field names.
public struct PlivoCallRequest: Sendable {
    public var from: String
    public var to: String
    public var answerURL: String
    public var hangupURL: String
    public var ringURL: String
    public var ringTimeout: Int
    public var timeLimit: Int

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
        ])
    }
}

/// What became of a call request, sorted by what it means for retrying.
public enum PlivoCallResult: Sendable, Equatable {
    case accepted(requestUUID: String?)
    /// Refused for this call (400, 404…): it was surely not placed and retrying will not help.
    case refused(status: Int, message: String)
    /// Our credentials were refused (401/403).
    case unauthorized(status: Int, message: String)
    /// Surely not placed; retry after the delay (429, connection refused, DNS failure).
    case retryLater(reason: String, afterMilliseconds: Int)
    /// The request may have reached Plivo (5xx, timeout, connection lost mid-request).
    case uncertain(reason: String)
}

public enum PlivoCallState: Sendable, Equatable {
    case live
    case ended(callStatus: String, hangupCause: String?, hangupCauseCode: Int?, durationSeconds: Int?)
    case notFound
    case unavailable(reason: String)
}

/// Plivo's voice API over URLSession. It never retries a request that may have fired.
public struct PlivoClient: Sendable {
    public let account: PlivoAccount
    private let session: URLSession
    private let timeout: Double

    private let userAgent: String

    public init(account: PlivoAccount, timeout: Double, maxConnections: Int, userAgent: String) {
        self.account = account
        self.timeout = timeout
        self.userAgent = userAgent
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.urlCache = nil
        session = URLSession(configuration: configuration)
    }

    public func placeCall(_ call: PlivoCallRequest) async -> PlivoCallResult {
        guard let url = URL(string: "\(account.apiURL)/v1/Account/\(account.authID)/Call/") else {
            return .refused(status: 0, message: "PLIVO_API_URL does not form a valid URL")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue(account.authorization, forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(userAgent, forHTTPHeaderField: "User-Agent")
        // When we sent it (ms since the epoch): lets a receiver tell our pacing from network delay.
        request.setValue(String(format: "%.3f", Date().timeIntervalSince1970 * 1000), forHTTPHeaderField: "X-Rymi-Sent-At")
        request.httpBody = Data(call.json.serialized())
        let response: (Data, HTTPURLResponse)
        do {
            response = try await send(request)
        } catch {
            return Self.classify(error)
        }
        let (body, http) = response
        let document = try? JSONParser.parse(Array(body))
        let message = document?["error"]?.stringValue ?? document?["message"]?.stringValue ?? String(decoding: body.prefix(200), as: UTF8.self)
        switch http.statusCode {
        case 200..<300:
            let uuid = document?["request_uuid"]?.stringValue ?? document?["request_uuid"]?.arrayValue?.first?.stringValue
            return .accepted(requestUUID: uuid)
        case 401, 403:
            return .unauthorized(status: http.statusCode, message: message)
        case 429:
            let seconds = http.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init) ?? 1
            return .retryLater(reason: "Plivo rate limit (429)", afterMilliseconds: Int(seconds * 1000))
        case 400..<500:
            return .refused(status: http.statusCode, message: message)
        default:
            return .uncertain(reason: "Plivo answered HTTP \(http.statusCode)")
        }
    }

    /// Reads the account (`GET /v1/Account/{id}/`): checks the credentials and opens a connection
    /// before the first call needs one. Returns the HTTP status, or nil when Plivo is unreachable.
    public func warmUp() async -> Int? {
        try? await get("\(account.apiURL)/v1/Account/\(account.authID)/").1.statusCode
    }

    /// Live calls first, then the call record of ended ones.
    public func lookup(callUUID: String) async -> PlivoCallState {
        let base = "\(account.apiURL)/v1/Account/\(account.authID)/Call/\(callUUID)/"
        do {
            let (_, live) = try await get(base + "?status=live")
            if (200..<300).contains(live.statusCode) { return .live }
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
        guard let urlError = error as? URLError else { return .uncertain(reason: "\(error)") }
        switch urlError.code {
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet, .badURL, .unsupportedURL:
            return .retryLater(reason: "cannot reach Plivo: \(urlError.code.rawValue)", afterMilliseconds: 1000)
        default:
            return .uncertain(reason: "request outcome unknown: URLError \(urlError.code.rawValue)")
        }
    }
}

extension URLSession {
    /// One request, its body and HTTP response, through a data task (the async variant is not on
    /// every Linux Foundation).
    public func httpResponse(for request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        try await withCheckedThrowingContinuation { continuation in
            dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else if let http = response as? HTTPURLResponse {
                    continuation.resume(returning: (data ?? Data(), http))
                } else {
                    continuation.resume(throwing: URLError(.badServerResponse))
                }
            }.resume()
        }
    }
}
