/// Bounds on what one request may make us hold in memory.
public struct HTTPLimits: Sendable {
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 32 * 1024
    public var maxHeaderCount = 100
    public var maxBodyBytes = 64 * 1024 * 1024
    public var maxChunkLineBytes = 4 * 1024

    public init(maxBodyBytes: Int = 64 * 1024 * 1024) {
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A request we refuse to read any further; the connection answers with `status` and closes.
public struct HTTPParseError: Error, Sendable, Equatable {
    public let status: Int
    public let code: String
    public let message: String

    static func bad(_ message: String) -> HTTPParseError { HTTPParseError(status: 400, code: "bad_request", message: message) }
}

/// An incremental, sans-IO HTTP/1.1 request parser (RFC 9112).
///
/// Bytes go in with `append` as they arrive, in any split; `next()` yields requests in order.
/// Every line, the header block and the body are bounded by `HTTPLimits`.
public struct HTTPRequestParser {
    public enum Event: Sendable {
        case needMore
        /// The head of a request with a body, before any of the body is read (only when the
        /// parser was made with `reportsHeads`): the moment to authenticate, refuse or bound the
        /// body, and to do so before `sendContinue`.
        case head(HTTPRequest)
        /// The head asked for `Expect: 100-continue` and its body has not all arrived.
        case sendContinue
        case request(HTTPRequest)
        /// Bytes of a body being streamed (`streamBody`), as they arrive.
        case bodyPart([UInt8])
        /// A streamed body is complete; the next event is the next request's.
        case bodyEnd
    }

    enum BodyFraming {
        case none
        case length(Int)
        case chunked
    }

    enum State {
        case requestLine
        case headers
        case fixedBody(Int)
        case chunkSize
        case chunkData(Int)
        case chunkDataEnd
        case trailers
        /// A streamed body has all arrived: `.bodyEnd` is next.
        case streamedBodyEnd
    }

    let limits: HTTPLimits
    private var buffer: [UInt8] = []
    private var position = 0
    private var state = State.requestLine
    private var request = HTTPRequest(method: "", target: "")
    private var headerBytes = 0
    private var continueOffered = false
    private var expectsContinue = false
    private let reportsHeads: Bool
    /// This request's body bound, when `limitBody` made it smaller than `limits.maxBodyBytes`.
    private var bodyLimit: Int
    /// The current request's body is handed out as it arrives rather than kept (`streamBody`).
    private var streaming = false
    private var streamed = 0

    public init(limits: HTTPLimits = HTTPLimits(), reportsHeads: Bool = false) {
        self.limits = limits
        self.reportsHeads = reportsHeads
        bodyLimit = limits.maxBodyBytes
    }

    /// Lowers the current request's body bound (after `.head`); a declared length over it is
    /// refused at once, a chunked body once it grows past it.
    public mutating func limitBody(to bytes: Int) throws(HTTPParseError) {
        bodyLimit = min(bodyLimit, bytes)
        if case .fixedBody(let length) = state, length > bodyLimit { throw Self.bodyTooLarge(bodyLimit) }
    }

    /// Hands the current request's body out in `.bodyPart`s as it arrives, ending with
    /// `.bodyEnd`, instead of one `.request` holding all of it (after `.head`).
    public mutating func streamBody() {
        streaming = true
    }

    /// The current request's declared body length; nil when chunked or bodiless.
    public var declaredBodyLength: Int? {
        if case .fixedBody(let length) = state { return length }
        return nil
    }

    /// Body bytes of the current request taken in so far (a chunked body grows as it arrives).
    public var bodyBytesReceived: Int { streaming ? streamed : request.body.count }

    public mutating func append(_ bytes: [UInt8]) {
        if position == buffer.count {
            buffer = bytes
            position = 0
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Unparsed bytes held: a caller pauses reading when this grows while a request is handled.
    public var bufferedBytes: Int { buffer.count - position }

    /// True once any byte of a request has arrived and the request is not complete.
    public var isMidRequest: Bool {
        if case .requestLine = state { return bufferedBytes > 0 }
        return true
    }

    /// True while reading the request line and headers, the part a slow client must send promptly.
    public var isReadingHead: Bool {
        switch state {
        case .requestLine, .headers: return true
        default: return false
        }
    }

    public mutating func next() throws(HTTPParseError) -> Event {
        while true {
            switch state {
            case .requestLine:
                guard let line = try nextLine(limit: limits.maxRequestLineBytes, tooLong: HTTPParseError(status: 414, code: "uri_too_long", message: "request line too long")) else { return .needMore }
                // RFC 9112 §2.2: ignore empty lines before a request line.
                if line.isEmpty { continue }
                try parseRequestLine(line)
                headerBytes = 0
                state = .headers
            case .headers:
                guard let line = try nextLine(limit: limits.maxHeaderBytes - headerBytes, tooLong: HTTPParseError(status: 431, code: "headers_too_large", message: "header section too large")) else {
                    return .needMore
                }
                headerBytes += line.count + 2
                if line.isEmpty {
                    state = try bodyState()
                    if case .requestLine = state { return .request(finishRequest()) }
                    if reportsHeads {
                        return .head(request)
                    }
                    continue
                }
                try parseHeaderLine(line)
            case .fixedBody(let length) where streaming:
                let available = min(length, bufferedBytes)
                guard available > 0 else { return offerContinue() }
                let part = take(available)
                state = available == length ? .streamedBodyEnd : .fixedBody(length - available)
                return .bodyPart(part)
            case .fixedBody(let length):
                guard bufferedBytes >= length else { return offerContinue() }
                request.body = Array(buffer[position..<position + length])
                position += length
                return .request(finishRequest())
            case .chunkSize:
                guard let line = try nextLine(limit: limits.maxChunkLineBytes, tooLong: .bad("chunk size line too long")) else { return offerContinue() }
                let size = try parseChunkSize(line)
                if size == 0 {
                    state = .trailers
                    headerBytes = 0
                } else {
                    guard bodyBytesReceived + size <= bodyLimit else { throw Self.bodyTooLarge(bodyLimit) }
                    state = .chunkData(size)
                }
            case .chunkData(let remaining) where streaming:
                let available = min(remaining, bufferedBytes)
                guard available > 0 else { return offerContinue() }
                let part = take(available)
                state = remaining == available ? .chunkDataEnd : .chunkData(remaining - available)
                return .bodyPart(part)
            case .chunkData(let remaining):
                let available = min(remaining, bufferedBytes)
                guard available > 0 else { return offerContinue() }
                request.body.append(contentsOf: buffer[position..<position + available])
                position += available
                state = remaining == available ? .chunkDataEnd : .chunkData(remaining - available)
            case .chunkDataEnd:
                guard bufferedBytes >= 2 else { return offerContinue() }
                guard buffer[position] == 0x0D, buffer[position + 1] == 0x0A else { throw .bad("chunk data not followed by CRLF") }
                position += 2
                state = .chunkSize
            case .streamedBodyEnd:
                _ = finishRequest()
                return .bodyEnd
            case .trailers:
                guard let line = try nextLine(limit: limits.maxHeaderBytes - headerBytes, tooLong: HTTPParseError(status: 431, code: "headers_too_large", message: "trailer section too large")) else { return .needMore }
                headerBytes += line.count + 2
                if line.isEmpty {
                    guard streaming else { return .request(finishRequest()) }
                    state = .streamedBodyEnd
                    continue
                }
                // Trailer fields are read for framing only; none of them changes the request.
            }
        }
    }

    /// The next `count` bytes of a streamed body.
    private mutating func take(_ count: Int) -> [UInt8] {
        let part = Array(buffer[position..<position + count])
        position += count
        streamed += count
        return part
    }

    private mutating func offerContinue() -> Event {
        guard expectsContinue, !continueOffered else { return .needMore }
        continueOffered = true
        return .sendContinue
    }

    private mutating func finishRequest() -> HTTPRequest {
        let finished = request
        request = HTTPRequest(method: "", target: "")
        state = .requestLine
        continueOffered = false
        expectsContinue = false
        bodyLimit = limits.maxBodyBytes
        streaming = false
        streamed = 0
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            position = 0
        } else if position > 64 * 1024 {
            buffer.removeFirst(position)
            position = 0
        }
        return finished
    }

    /// The next CRLF-terminated line without its terminator, or nil if it has not all arrived.
    /// A bare LF is refused: accepting it is how request smuggling through proxies starts.
    private mutating func nextLine(limit: Int, tooLong: HTTPParseError) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        let end = min(buffer.count, position + max(limit, 0) + 2)
        var index = position
        while index < end {
            if buffer[index] == 0x0A {
                guard index > position, buffer[index - 1] == 0x0D else { throw .bad("line ends in a bare LF; HTTP/1.1 lines end in CRLF") }
                let line = buffer[position..<index - 1]
                position = index + 1
                return line
            }
            index += 1
        }
        if end - position >= max(limit, 0) + 2 { throw tooLong }
        return nil
    }

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            if parts.count == 2 { throw .bad("HTTP/0.9 requests are not supported") }
            throw .bad("malformed request line")
        }
        guard !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenByte) else { throw .bad("malformed method") }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .bad("malformed request target") }
        switch String(decoding: parts[2], as: UTF8.self) {
        case "HTTP/1.1": request.version = .http11
        case "HTTP/1.0": request.version = .http10
        default:
            guard parts[2].starts(with: Array("HTTP/".utf8)) else { throw .bad("malformed HTTP version") }
            throw HTTPParseError(status: 505, code: "http_version_not_supported", message: "only HTTP/1.0 and HTTP/1.1 are served")
        }
        request.method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") || (target == "*" && request.method == "OPTIONS") else {
            throw .bad("request target must be an absolute path")
        }
        request.target = target
    }

    private mutating func parseHeaderLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        guard let first = line.first, first != 0x20, first != 0x09 else {
            throw .bad("obsolete line folding is not accepted (RFC 9112 §5.2)")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .bad("header line without a colon") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(Self.isTokenByte) else {
            throw .bad("malformed header name (no whitespace is allowed before the colon)")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
        while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else { throw .bad("control character in a header value") }
        guard request.headers.count < limits.maxHeaderCount else {
            throw HTTPParseError(status: 431, code: "headers_too_large", message: "too many header fields")
        }
        request.headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// Decides how the body is framed (RFC 9112 §6), refusing every ambiguous combination.
    private mutating func bodyState() throws(HTTPParseError) -> State {
        let lengths = request.headers.filter { $0.name.caseInsensitiveEquals("Content-Length") }.map(\.value)
        let codings = request.headers.filter { $0.name.caseInsensitiveEquals("Transfer-Encoding") }.map(\.value)
        guard request.headers.filter({ $0.name.caseInsensitiveEquals("Host") }).count <= 1 else { throw .bad("more than one Host header") }
        if let expectation = request.header("Expect") {
            guard expectation.lowercased() == "100-continue" else {
                throw HTTPParseError(status: 417, code: "expectation_failed", message: "only Expect: 100-continue is supported")
            }
            expectsContinue = request.version == .http11
        }
        if !codings.isEmpty {
            guard lengths.isEmpty else { throw .bad("Content-Length and Transfer-Encoding together are not accepted (RFC 9112 §6.3)") }
            guard request.version == .http11 else { throw .bad("Transfer-Encoding in an HTTP/1.0 request") }
            let tokens = codings.joined(separator: ",").split(separator: ",").map { $0.trimmingASCIIWhitespace().lowercased() }
            guard tokens == ["chunked"] else {
                throw HTTPParseError(status: 501, code: "not_implemented", message: "only Transfer-Encoding: chunked is supported")
            }
            return .chunkSize
        }
        guard !lengths.isEmpty else { return .requestLine }
        guard lengths.count == 1 else { throw .bad("more than one Content-Length header") }
        let text = lengths[0]
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(text) else {
            throw .bad("malformed Content-Length")
        }
        guard length <= limits.maxBodyBytes else { throw Self.bodyTooLarge(limits.maxBodyBytes) }
        return length == 0 ? .requestLine : .fixedBody(length)
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        let sizeText = line.prefix(while: { $0 != UInt8(ascii: ";") })
        guard !sizeText.isEmpty, sizeText.count <= 15 else { throw .bad("malformed chunk size") }
        var size = 0
        for byte in sizeText {
            guard let digit = Self.hexValue(byte) else { throw .bad("malformed chunk size") }
            size = size * 16 + digit
        }
        return size
    }

    static func bodyTooLarge(_ limit: Int) -> HTTPParseError {
        HTTPParseError(status: 413, code: "payload_too_large", message: "request body exceeds \(limit) bytes")
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }

    /// `tchar` from RFC 9110 §5.6.2.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> Substring {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return Substring(slice)
    }
}
