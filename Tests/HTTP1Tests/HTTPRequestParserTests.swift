import HTTP1
import Testing

/// Feeds `text` in pieces of `chunk` bytes and collects every event until the parser needs more.
func parse(_ text: String, chunk: Int = Int.max, limits: HTTPLimits = HTTPLimits()) throws(HTTPParseError) -> [HTTPRequestParser.Event] {
    var parser = HTTPRequestParser(limits: limits)
    var events: [HTTPRequestParser.Event] = []
    let bytes = Array(text.utf8)
    var offset = 0
    repeat {
        let end = min(bytes.count, offset + chunk)
        parser.append(Array(bytes[offset..<end]))
        offset = end
        while true {
            let event = try parser.next()
            if case .needMore = event { break }
            events.append(event)
        }
    } while offset < bytes.count
    return events
}

func requests(_ events: [HTTPRequestParser.Event]) -> [HTTPRequest] {
    events.compactMap { if case .request(let request) = $0 { request } else { nil } }
}

func parseError(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseError? {
    do {
        _ = try parse(text, limits: limits)
        return nil
    } catch {
        return error
    }
}

@Suite struct HTTPRequestParserTests {
    @Test(arguments: [1, 2, 3, 7, 1000])
    func parsesARequestSplitAnywhere(chunk: Int) throws {
        let text = "POST /v1/campaigns?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}"
        let parsed = requests(try parse(text, chunk: chunk))
        #expect(parsed.count == 1)
        #expect(parsed[0].method == "POST")
        #expect(parsed[0].path == "/v1/campaigns")
        #expect(parsed[0].query == "x=1")
        #expect(parsed[0].header("content-type") == "application/json")
        #expect(String(decoding: parsed[0].body, as: UTF8.self) == "{\"a\":\"bcd\"}")
    }

    @Test func parsesPipelinedRequestsInOrder() throws {
        let text = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.0\r\n\r\n"
        let parsed = requests(try parse(text, chunk: 5))
        #expect(parsed.map(\.target) == ["/a", "/b", "/c"])
        #expect(parsed[2].version == .http10)
        #expect(!parsed[2].wantsKeepAlive)
        #expect(parsed[0].wantsKeepAlive)
    }

    @Test(arguments: [1, 4, 100])
    func decodesChunkedBodies(chunk: Int) throws {
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
        let parsed = requests(try parse(text, chunk: chunk))
        #expect(String(decoding: parsed[0].body, as: UTF8.self) == "hello world")
    }

    @Test func offersContinueOnceForExpect() throws {
        let events = try parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        #expect(events.count == 1)
        guard case .sendContinue = events[0] else { Issue.record("expected sendContinue"); return }
    }

    @Test func ignoresLeadingEmptyLines() throws {
        #expect(requests(try parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n")).count == 1)
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: a\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\rInjected: b\r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("GET / HTTP/3\r\n\r\n", 505),
        ("GET / FOO/1.1\r\n\r\n", 400),
        ("GET http://evil/ HTTP/1.1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nExpect: something\r\n\r\n", 417),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ])
    func refusesAmbiguousOrMalformedRequests(text: String, status: Int) {
        #expect(parseError(text)?.status == status, "\(text.debugDescription)")
    }

    @Test func boundsTheRequestLine() {
        let long = "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n"
        #expect(parseError(long)?.status == 414)
        // Without a line end yet: refused as soon as the limit is passed, not when the line ends.
        #expect(parseError("GET /" + String(repeating: "a", count: 9000))?.status == 414)
    }

    @Test func boundsHeaders() {
        let big = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 40_000) + "\r\n\r\n"
        #expect(parseError(big)?.status == 431)
        let many = "GET / HTTP/1.1\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(parseError(many)?.status == 431)
    }

    @Test func boundsBodies() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        #expect(parseError("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: limits)?.status == 413)
        #expect(parseError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\n", limits: limits)?.status == 413)
    }

    @Test func boundsChunkExtensions() {
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "x", count: 5000) + "\r\n"
        #expect(parseError(text)?.status == 400)
    }

    @Test func tracksWhereInARequestItIs() throws {
        var parser = HTTPRequestParser()
        #expect(!parser.isMidRequest)
        parser.append(Array("GET / HT".utf8))
        _ = try parser.next()
        #expect(parser.isMidRequest && parser.isReadingHead)
        parser.append(Array("TP/1.1\r\nContent-Length: 5\r\n\r\nab".utf8))
        _ = try parser.next()
        #expect(parser.isMidRequest && !parser.isReadingHead)
    }
}
