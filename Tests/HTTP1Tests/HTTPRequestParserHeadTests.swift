@testable import HTTP1
import Testing

/// The head of a request with a body comes out before the body is read, when asked for.
@Suite struct HTTPRequestParserHeadTests {
    @Test func reportsTheHeadBeforeContinueAndBody() throws {
        var parser = HTTPRequestParser(reportsHeads: true)
        parser.append(Array("POST /v1/x HTTP/1.1\r\nAuthorization: Bearer k\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n".utf8))
        let first = try parser.eventsUntilMore()
        #expect(first.count == 2)
        guard case .head(let head) = first[0], case .sendContinue = first[1] else {
            Issue.record("expected head then sendContinue: \(first)")
            return
        }
        #expect(head.header("Authorization") == "Bearer k")
        #expect(head.body.isEmpty)
        #expect(parser.declaredBodyLength == 5)
        parser.append(Array("hello".utf8))
        guard case .request(let request) = try parser.next() else { Issue.record("expected the request"); return }
        #expect(request.body == Array("hello".utf8))
    }

    @Test func bodilessRequestsHaveNoHeadEventAndTheDefaultParserNone() throws {
        var reporting = HTTPRequestParser(reportsHeads: true)
        reporting.append(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        guard case .request = try reporting.next() else { Issue.record("expected the request"); return }
        var plain = HTTPRequestParser()
        plain.append(Array("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx".utf8))
        guard case .request = try plain.next() else { Issue.record("expected the request"); return }
    }

    @Test func aLimitAfterTheHeadBoundsThatRequestOnly() throws {
        var parser = HTTPRequestParser(reportsHeads: true)
        parser.append(Array("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n".utf8))
        guard case .head = try parser.next() else { Issue.record("expected head"); return }
        #expect(throws: HTTPParseError.self) { try parser.limitBody(to: 9) }

        var chunked = HTTPRequestParser(reportsHeads: true)
        chunked.append(Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        guard case .head = try chunked.next() else { Issue.record("expected head"); return }
        try chunked.limitBody(to: 8)
        chunked.append(Array("5\r\nhello\r\n".utf8))
        #expect(try chunked.eventsUntilMore().isEmpty)
        #expect(chunked.bodyBytesReceived == 5)
        chunked.append(Array("5\r\nworld\r\n".utf8))
        do {
            _ = try chunked.eventsUntilMore()
            Issue.record("expected 413")
        } catch {
            #expect(error.status == 413)
        }

        // The next request is back to the parser's own limit.
        var next = HTTPRequestParser(reportsHeads: true)
        next.append(Array("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n".utf8))
        guard case .head = try next.next() else { Issue.record("expected head"); return }
        try next.limitBody(to: 3)
        guard case .request = try next.next(), case .head = try next.next() else { Issue.record("expected request, head"); return }
        #expect(next.declaredBodyLength == 20)
    }
}

/// The shared budget for request bodies, without sockets.
@Suite struct HTTPBodyBudgetTests {
    @Test func reservesUpToCapacityAndGivesBack() {
        let budget = HTTPBodyBudget(capacity: 100)
        #expect(budget.reserve(60))
        #expect(!budget.reserve(41))
        #expect(budget.reserve(40))
        #expect(!budget.reserve(1))
        budget.release(60)
        #expect(budget.inUse == 40)
        #expect(budget.reserve(60))
        // A refused reservation takes nothing; releases never go below zero.
        #expect(!budget.reserve(Int.max))
        budget.release(1000)
        #expect(budget.inUse == 0)
    }
}
