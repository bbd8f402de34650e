import Foundation

/// A parsed HTTP/1.x request. Header names are kept as sent; lookups ignore case.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent: path plus optional `?query`.
    public var target: String {
        didSet { queryMark = target.utf8.firstIndex(of: UInt8(ascii: "?")) }
    }
    /// Where `?` is, found once: path and query are read several times a request.
    private var queryMark: String.Index?
    public var version: HTTPVersion
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The body as it arrives, when a head check chose `.stream` (then `body` is empty).
    public var bodyStream: HTTPRequestBody?
    /// When the server finished reading it (seconds since 1970), before any handler ran.
    public var receivedAt: Double = 0

    public init(method: String, target: String, version: HTTPVersion = .http11, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        queryMark = target.utf8.firstIndex(of: UInt8(ascii: "?"))
        self.version = version
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.caseInsensitiveEquals(name) })?.value
    }

    public var path: Substring {
        queryMark.map { target[..<$0] } ?? target[...]
    }

    public var query: Substring? {
        queryMark.map { target[target.utf8.index(after: $0)...] }
    }

    /// RFC 9112 §9.3: HTTP/1.1 persists unless told to close; HTTP/1.0 only when asked to keep alive.
    public var wantsKeepAlive: Bool {
        let connection = header("Connection")?.lowercased() ?? ""
        let tokens = connection.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        switch version {
        case .http11: return !tokens.contains("close")
        case .http10: return tokens.contains("keep-alive")
        }
    }
}

public enum HTTPVersion: Sendable, Equatable {
    case http10, http11

    var text: String { self == .http10 ? "HTTP/1.0" : "HTTP/1.1" }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Instead of answering, reset the connection (for fault injection: a peer that vanished).
    public var resetsConnection = false
    /// A body written as it is made (chunked; close-delimited for HTTP/1.0), in place of `body`:
    /// each write waits while the peer has not taken what came before, so memory stays bounded
    /// whatever the body's size. A producer that throws cuts the response short (the connection
    /// closes without the last chunk, so the client sees it incomplete).
    public var bodyStream: HTTPBodyProducer?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.caseInsensitiveEquals(name) })?.value
    }

    /// The bytes on the wire; `Content-Length` and `Connection` are always ours to set. A
    /// streamed body's head says `Transfer-Encoding: chunked` (HTTP/1.1) or nothing (HTTP/1.0,
    /// ended by the close), and no body follows it here.
    func serialized(version: HTTPVersion, keepAlive: Bool, includeBody: Bool) -> [UInt8] {
        var head = "\(version.text) \(status) \(HTTPResponse.reasonPhrase(status))\r\n"
        for (name, value) in headers where !name.caseInsensitiveEquals("Content-Length") && !name.caseInsensitiveEquals("Connection")
            && !name.caseInsensitiveEquals("Transfer-Encoding") {
            head += "\(name): \(value)\r\n"
        }
        if bodyStream != nil {
            if version == .http11 { head += "Transfer-Encoding: chunked\r\n" }
        } else {
            head += "Content-Length: \(body.count)\r\n"
        }
        if !keepAlive {
            head += "Connection: close\r\n"
        } else if version == .http10 {
            head += "Connection: keep-alive\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if includeBody && bodyStream == nil { bytes.append(contentsOf: body) }
        return bytes
    }
}

/// Makes a streamed body, writing it piece by piece.
public typealias HTTPBodyProducer = @Sendable (HTTPBodyWriter) async throws -> Void

/// Where a streamed body is written; `write` returns once the connection can take more.
public struct HTTPBodyWriter: Sendable {
    let emit: @Sendable ([UInt8]) async throws -> Void

    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await emit(bytes)
    }
}

extension HTTPResponse {

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        case 507: return "Insufficient Storage"
        default: return "Status \(status)"
        }
    }
}

extension String {
    /// ASCII case-insensitive comparison, as header names need (RFC 9110 §5.1).
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let left = utf8, right = other.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { a, b in a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A) }
    }
}
