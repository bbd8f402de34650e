@testable import HTTP1
import Testing

/// A body handed out as it arrives (`streamBody`), not kept: pieces, then its end, then the next request.
@Suite struct HTTPRequestParserStreamingTests {
    func body(_ events: [HTTPRequestParser.Event]) -> [UInt8] {
        events.flatMap { event -> [UInt8] in
            if case .bodyPart(let bytes) = event { return bytes }
            return []
        }
    }

    func ends(_ events: [HTTPRequestParser.Event]) -> Int {
        events.filter { if case .bodyEnd = $0 { return true } else { return false } }.count
    }

    @Test func aFixedLengthBodyComesInPiecesThenTheNextRequest() throws {
        var parser = HTTPRequestParser(reportsHeads: true)
        parser.append(Array("POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello".utf8))
        guard case .head = try parser.next() else { Issue.record("expected the head"); return }
        parser.streamBody()
        let first = try parser.eventsUntilMore()
        #expect(body(first) == Array("hello".utf8) && ends(first) == 0 && parser.bodyBytesReceived == 5)
        parser.append(Array("world".utf8) + Array("GET /next HTTP/1.1\r\n\r\n".utf8))
        let rest = try parser.eventsUntilMore()
        #expect(body(rest) == Array("world".utf8) && ends(rest) == 1)
        guard case .request(let next) = rest.last else { Issue.record("expected the next request: \(rest)"); return }
        #expect(next.target == "/next" && next.body.isEmpty)
    }

    @Test func aChunkedBodyComesInPiecesAndKeepsItsLimit() throws {
        var parser = HTTPRequestParser(reportsHeads: true)
        parser.append(Array("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel".utf8))
        guard case .head = try parser.next() else { Issue.record("expected the head"); return }
        try parser.limitBody(to: 12)
        parser.streamBody()
        var seen = try parser.eventsUntilMore()
        parser.append(Array("lo\r\n6\r\n world\r\n0\r\n\r\n".utf8))
        seen += try parser.eventsUntilMore()
        #expect(body(seen) == Array("hello world".utf8) && ends(seen) == 1)
        // The next one over its limit is refused as its chunk is announced, before it is read.
        parser.append(Array("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        guard case .head = try parser.next() else { Issue.record("expected the head"); return }
        try parser.limitBody(to: 4)
        parser.streamBody()
        parser.append(Array("3\r\nabc\r\n2\r\n".utf8))
        do {
            _ = try parser.eventsUntilMore()
            Issue.record("expected 413")
        } catch {
            #expect(error.status == 413)
        }
    }
}
