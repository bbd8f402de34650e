import Dispatch
import Foundation
import Glibc
import JSON

struct HTTPResult: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { try? JSONParser.parse(body) }
    func header(_ name: String) -> String? { headers.first(where: { $0.0.lowercased() == name.lowercased() })?.1 }
    var errorCode: String? { json?["error"]?["code"]?.stringValue }
}

/// A deliberately plain HTTP/1.1 client on blocking sockets (run off the cooperative pool), so
/// tests control every byte: well-formed requests, and malformed ones a library would refuse to send.
struct HTTPClient: Sendable {
    let port: Int
    var host = "127.0.0.1"

    init(port: Int, host: String = "127.0.0.1") {
        self.port = port
        self.host = host
    }

    func request(_ method: String, _ path: String, key: String? = Keys.acme, json: String? = nil,
                 headers: [(String, String)] = []) async throws -> HTTPResult {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        if let key { head += "Authorization: Bearer \(key)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let body = json.map { Array($0.utf8) } ?? []
        if json != nil {
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { head += "Content-Type: application/json\r\n" }
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let responses = try HTTPClient.parseResponses(try await rawExchange(Array(head.utf8) + body), bodiless: method == "HEAD")
        guard let first = responses.first else { throw TestFailure("no response to \(method) \(path)") }
        return first
    }

    /// Sends raw bytes, reads until the server closes (or `timeout`), and parses every response.
    func exchange(_ bytes: [UInt8], timeout: Double = 30) async throws -> [HTTPResult] {
        try HTTPClient.parseResponses(try await rawExchange(bytes, timeout: timeout))
    }

    func rawExchange(_ bytes: [UInt8], timeout: Double = 30) async throws -> [UInt8] {
        let port = self.port
        let host = self.host
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try HTTPClient.blockingExchange(host: host, port: port, bytes: bytes, timeout: timeout) })
            }
        }
    }

    static func connect(host: String = "127.0.0.1", port: Int, timeout: Double) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("connect to \(port) failed: errno \(errno)")
        }
        var interval = timeval(tv_sec: Int(timeout.rounded(.up)), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func blockingExchange(host: String, port: Int, bytes: [UInt8], timeout: Double) throws -> [UInt8] {
        let fd = try connect(host: host, port: port, timeout: timeout)
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }
            offset += written
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return received
    }

    /// Splits a byte stream into responses (Content-Length framed, as our server always sends).
    static func parseResponses(_ raw: [UInt8], bodiless: Bool = false) throws -> [HTTPResult] {
        var results: [HTTPResult] = []
        var index = 0
        let separator: [UInt8] = [13, 10, 13, 10]
        while index < raw.count {
            guard let headEnd = raw[index...].firstRange(of: separator) else {
                throw TestFailure("truncated response: \(String(decoding: raw[index...], as: UTF8.self))")
            }
            let head = String(decoding: raw[index..<headEnd.lowerBound], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestFailure("bad status line in \(head)") }
            let headers = lines.compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            let length = bodiless ? 0 : headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap { Int($0.1) } ?? 0
            let bodyStart = headEnd.upperBound
            if status == 100 {
                index = bodyStart
                continue
            }
            guard bodyStart + length <= raw.count else { throw TestFailure("truncated body") }
            results.append(HTTPResult(status: status, headers: headers, body: Array(raw[bodyStart..<bodyStart + length])))
            index = bodyStart + length
        }
        return results
    }
}
