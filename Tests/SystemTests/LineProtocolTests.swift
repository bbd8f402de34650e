import Foundation
import Glibc
import JSON
import Testing

/// The manager's line protocol, spoken by hand over a real TCP connection.
@Suite(.serialized) struct LineProtocolSystemTests {
    /// Sends lines and reads reply lines until `count` arrived.
    func converse(port: Int, _ lines: [String], expecting count: Int) async throws -> [JSONValue] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let fd = try HTTPClient.connect(port: port, timeout: 10)
                    defer { close(fd) }
                    let payload = Array(lines.map { $0 + "\n" }.joined().utf8)
                    _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    var received: [UInt8] = []
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while received.filter({ $0 == 0x0A }).count < count {
                        let read = recv(fd, &buffer, buffer.count, 0)
                        if read <= 0 { break }
                        received += buffer[0..<read]
                    }
                    return try received.split(separator: 0x0A).map { try JSONParser.parse(Array($0)) }
                })
            }
        }
    }

    @Test func answersEveryBadLineAndKeepsTheConnection() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let replies = try await converse(port: stack.managerPort, [
            #"{"v":1,"id":1,"type":"ping","body":{}}"#,
            #"{"v":1,"id":2,"type":"hello","body":{"protocolVersion":1,"role":"test","name":"t"}}"#,
            "this is not json",
            #"{"v":1,"id":4,"type":"no.such.type","body":{}}"#,
            #"{"v":1,"id":5,"type":"campaign.get","body":{"account":7}}"#,
            #"{"v":2,"id":6,"type":"ping","body":{}}"#,
            #"{"v":1,"id":7,"type":"ping","body":{}}"#,
        ], expecting: 7)
        #expect(replies.count == 7)
        func reply(_ id: Int) -> JSONValue? { replies.first { $0["id"] == .int(id) } }
        #expect(reply(1)?["body"]?["code"] == .string("handshake_required"))
        #expect(reply(2)?["type"] == .string("ok"))
        #expect(reply(2)?["body"]?["role"] == .string("manager"))
        #expect(reply(0)?["body"]?["code"] == .string("malformed"))
        #expect(reply(4)?["body"]?["code"] == .string("unknown_type"))
        #expect(reply(5)?["body"]?["code"] == .string("malformed"))
        #expect(reply(6)?["body"]?["code"] == .string("version_mismatch"))
        #expect(reply(7)?["type"] == .string("ok"))
    }

    @Test func refusesAnotherProtocolVersionAtHello() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let replies = try await converse(port: stack.managerPort, [#"{"v":1,"id":1,"type":"hello","body":{"protocolVersion":99,"role":"test","name":"t"}}"#], expecting: 1)
        #expect(replies.first?["body"]?["code"] == .string("version_mismatch"))
    }
}
