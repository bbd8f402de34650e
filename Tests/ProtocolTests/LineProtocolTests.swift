import Foundation
import Protocol
import Testing

@Suite struct LineSplitterTests {
    @Test func splitsLinesAcrossReads() {
        var splitter = LineSplitter(maxLineBytes: 100)
        splitter.append(Array("ab".utf8))
        #expect(splitter.next() == nil)
        splitter.append(Array("c\r\nde\n\nf".utf8))
        #expect(splitter.next() == .line(Array("abc".utf8)))
        #expect(splitter.next() == .line(Array("de".utf8)))
        #expect(splitter.next() == nil)
        splitter.append(Array("\n".utf8))
        #expect(splitter.next() == .line(Array("f".utf8)))
    }

    @Test func discardsAnOversizedLineAndRecovers() {
        var splitter = LineSplitter(maxLineBytes: 10)
        splitter.append(Array(repeating: UInt8(ascii: "x"), count: 25))
        #expect(splitter.next() == .oversized)
        splitter.append(Array(repeating: UInt8(ascii: "x"), count: 25))
        #expect(splitter.next() == nil)
        splitter.append(Array("xx\nok\n".utf8))
        #expect(splitter.next() == .line(Array("ok".utf8)))
        splitter.append(Array("0123456789012\nfine\n".utf8))
        #expect(splitter.next() == .oversized)
        #expect(splitter.next() == .line(Array("fine".utf8)))
    }
}

struct Resolver: EnvelopeBodyResolver {
    func bodyDecoder(type: String, id: UInt64) -> BodyDecoder? {
        type == GetCampaign.type ? GetCampaign.bodyDecoder : nil
    }
}

@Suite struct EnvelopeTests {
    func decode(_ line: [UInt8]) throws(IncomingEnvelope.Malformed) -> IncomingEnvelope {
        try IncomingEnvelope(line: line, resolver: Resolver())
    }

    @Test func roundTripsARequest() throws {
        let line = try OutgoingEnvelope(id: 42, type: GetCampaign.type, requestID: "req_1", body: GetCampaign(account: "a", campaignID: "cmp_1")).encodedLine()
        #expect(line.last == 0x0A)
        #expect(!line.dropLast().contains(0x0A))
        let envelope = try decode(Array(line.dropLast()))
        #expect(envelope.id == 42 && envelope.type == GetCampaign.type && envelope.requestID == "req_1" && envelope.version == 1)
        guard case .success(let body) = envelope.body, let message = body as? GetCampaign else {
            Issue.record("body not decoded")
            return
        }
        #expect(message.campaignID == "cmp_1")
    }

    @Test func leavesUnknownTypesUndecoded() throws {
        let envelope = try decode(Array(#"{"v":1,"id":3,"type":"nope","body":{}}"#.utf8))
        #expect(envelope.body.map { _ in true } == nil)
    }

    @Test func reportsABadBodyWithoutLosingTheID() throws {
        let envelope = try decode(Array(#"{"v":1,"id":9,"type":"campaign.get","body":{"account":1}}"#.utf8))
        guard case .failure = envelope.body else {
            Issue.record("expected a body failure")
            return
        }
        #expect(envelope.id == 9)
        do {
            _ = try decode(Array(#"{"id":17,"type":5}"#.utf8))
            Issue.record("a line without a valid type decoded")
        } catch {
            #expect(error.id == 17)
        }
        do {
            _ = try decode(Array("garbage".utf8))
            Issue.record("garbage decoded")
        } catch {
            #expect(error.id == 0)
        }
    }
}
