import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTP1
import JSON

/// The public API, for the `rymi` command and any Swift program: one method a request, over HTTP
/// or HTTPS (URLSession), each answer as JSON, each error answer a `Failure` with the API's code
/// and message.
public final class RymiClient: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let status: Int
        public let code: String
        public let message: String

        public var description: String { status == 0 ? message : "\(message) (\(code), HTTP \(status))" }

        /// Not reached, unavailable for a moment, or the same request still being served.
        var isWorthRetrying: Bool { status == 0 || status == 503 || code == "idempotency_key_in_use" }
    }

    let base: URL
    let apiKey: String

    /// - Parameter baseURL: the API's root, such as `https://api.rymi.ai` (the `/v1/…` paths are added).
    public init(baseURL: URL, apiKey: String) {
        base = baseURL
        self.apiKey = apiKey
    }

    /// `RYMI_URL` (default `http://127.0.0.1:8080`, as `make run` serves) and `RYMI_API_KEY`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(Failure) -> RymiClient {
        let text = environment["RYMI_URL"] ?? "http://127.0.0.1:8080"
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw Failure(status: 0, code: "configuration", message: "RYMI_URL must be an http:// or https:// URL, not \(text)")
        }
        guard let key = environment["RYMI_API_KEY"], !key.isEmpty else {
            throw Failure(status: 0, code: "configuration", message: "RYMI_API_KEY is not set")
        }
        return RymiClient(baseURL: url, apiKey: key)
    }

    /// One request to `path` (from `/v1/…`); the answer's JSON (null for an empty body). A `POST`
    /// goes with an Idempotency-Key and is sent again under it when the network or the service
    /// fails, so it takes effect once however many times it is sent.
    public func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        var request = self.request(method, path)
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.serialized())
        }
        return try await retrying(request) { request in try await URLSession.shared.httpResponse(for: request) }
    }

    /// Delays before sending a `POST` again (after a network failure, a 503, or its first
    /// request still being served): about 3.5 s in all.
    static let retryDelays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2)]

    private func retrying(_ request: URLRequest, _ exchange: (URLRequest) async throws -> (Data, HTTPURLResponse)) async throws -> JSONValue {
        var request = request
        guard request.httpMethod == "POST" else { return try Self.answer(try await send { try await exchange(request) }) }
        request.setValue(UUID().uuidString.lowercased(), forHTTPHeaderField: "Idempotency-Key")
        for delay in Self.retryDelays {
            do {
                return try Self.answer(try await send { try await exchange(request) })
            } catch let failure as Failure where failure.isWorthRetrying {
                try await Task.sleep(for: delay)
            }
        }
        return try Self.answer(try await send { try await exchange(request) })
    }

    /// Uploads a contacts file (`.csv` as text/csv, anything else as JSON) to a campaign, read
    /// from disk as it is sent; `progress` hears the bytes sent so far and the file's size.
    public func uploadContacts(campaign: String, file: URL, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws -> JSONValue {
        var request = self.request("POST", "/v1/campaigns/\(Self.segment(campaign))/contacts")
        request.setValue(file.pathExtension.lowercased() == "csv" ? "text/csv" : "application/json", forHTTPHeaderField: "Content-Type")
        return try await retrying(request) { request in
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>) in
                // Delegate calls only (no completion handler): that is how URLSession reports the bytes sent.
                let watcher = Upload(progress: progress, continuation: continuation)
                let session = URLSession(configuration: .ephemeral, delegate: watcher, delegateQueue: nil)
                session.uploadTask(with: request, fromFile: file).resume()
                session.finishTasksAndInvalidate()
            }
        }
    }

    /// A path segment from user input: encoded, so an id cannot reach another route.
    public static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? text
    }

    private func request(_ method: String, _ path: String) -> URLRequest {
        var request = URLRequest(url: URL(string: base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)!)
        request.httpMethod = method
        request.timeoutInterval = 300
        request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization")
        request.setValue("rymi-cli/1", forHTTPHeaderField: "User-Agent")
        return request
    }

    /// Network failures as a `Failure` that says where it could not reach.
    private func send(_ exchange: () async throws -> (Data, HTTPURLResponse)) async throws -> (Data, HTTPURLResponse) {
        do {
            return try await exchange()
        } catch {
            throw Failure(status: 0, code: "unreachable", message: "could not reach \(base.absoluteString): \(error.localizedDescription)")
        }
    }

    private static func answer(_ exchanged: (Data, HTTPURLResponse)) throws -> JSONValue {
        let (data, response) = exchanged
        let json = data.isEmpty ? JSONValue.null : (try? JSONParser.parse(Array(data))) ?? .string(String(decoding: data, as: UTF8.self))
        guard (200..<300).contains(response.statusCode) else {
            throw Failure(status: response.statusCode, code: json["error"]?["code"]?.stringValue ?? "http_\(response.statusCode)",
                          message: json["error"]?["message"]?.stringValue ?? HTTPURLResponse.localizedString(forStatusCode: response.statusCode))
        }
        return json
    }
}

/// One upload's delegate: its progress, its answer's bytes, its end.
private final class Upload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let progress: @Sendable (Int64, Int64) -> Void
    private var continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>?
    private var received = Data()
    private let lock = NSLock()

    init(progress: @escaping @Sendable (Int64, Int64) -> Void, continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>) {
        self.progress = progress
        self.continuation = continuation
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didSendBodyData bytesSent: Int64, totalBytesSent: Int64,
                    totalBytesExpectedToSend: Int64) {
        progress(totalBytesSent, totalBytesExpectedToSend)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock { received.append(data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (continuation, data) = lock.withLock { () -> (CheckedContinuation<(Data, HTTPURLResponse), any Error>?, Data) in
            defer { self.continuation = nil }
            return (self.continuation, received)
        }
        if let error {
            continuation?.resume(throwing: error)
        } else if let response = task.response as? HTTPURLResponse {
            continuation?.resume(returning: (data, response))
        } else {
            continuation?.resume(throwing: URLError(.badServerResponse))
        }
    }
}
