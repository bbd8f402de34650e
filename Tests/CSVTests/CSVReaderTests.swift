import CSV
import Testing

/// The streaming CSV reader, without I/O: every input is also fed a byte at a time, which must
/// read the same (records may be split anywhere across the pieces of a request body).
@Suite struct CSVReaderTests {
    /// The records of `text` fed whole, after checking that a byte at a time reads the same.
    func read(_ bytes: [UInt8], limits: CSVReader.Limits = CSVReader.Limits()) throws -> [[String]] {
        var whole: [[String]] = []
        var reader = CSVReader(limits: limits)
        try reader.feed(bytes) { whole.append($0) }
        try reader.finish { whole.append($0) }
        var bytewise: [[String]] = []
        var byByte = CSVReader(limits: limits)
        for byte in bytes { try byByte.feed([byte]) { bytewise.append($0) } }
        try byByte.finish { bytewise.append($0) }
        #expect(bytewise == whole)
        return whole
    }

    func read(_ text: String) throws -> [[String]] { try read(Array(text.utf8)) }

    func problem(_ text: String, limits: CSVReader.Limits = CSVReader.Limits()) -> CSVReader.Problem? {
        do {
            _ = try read(Array(text.utf8), limits: limits)
            return nil
        } catch {
            return error as? CSVReader.Problem
        }
    }

    @Test func plainRecordsWithAnyLineEnd() throws {
        #expect(try read("phone_number,name\r\n+14155550100,Ada\r\n") == [["phone_number", "name"], ["+14155550100", "Ada"]])
        #expect(try read("a,b\nc,d\n") == [["a", "b"], ["c", "d"]])
        #expect(try read("a,b\rc,d") == [["a", "b"], ["c", "d"]])
        // The last line may end without a line end; empty fields stay fields.
        #expect(try read("a,,c\n,\nx") == [["a", "", "c"], ["", ""], ["x"]])
    }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let text = "name,note\r\n\"Lovelace, Ada\",\"said \"\"hi\"\"\nthen left\"\r\n\"\",\"\"\"\"\r\n"
        #expect(try read(text) == [["name", "note"], ["Lovelace, Ada", "said \"hi\"\nthen left"], ["", "\""]])
        #expect(try read("\"a\r\nb\"\r\nc") == [["a\r\nb"], ["c"]])
    }

    @Test func aQuoteInsideAnUnquotedFieldIsKept() throws {
        #expect(try read("5'10\" tall,x\n") == [["5'10\" tall", "x"]])
    }

    @Test func aByteOrderMarkIsSkippedOnlyAtTheStart() throws {
        #expect(try read([0xEF, 0xBB, 0xBF] + Array("phone\n1\n".utf8)) == [["phone"], ["1"]])
        #expect(try read(Array("a,\u{FEFF}b\n".utf8)) == [["a", "\u{FEFF}b"]])
        // A prefix of the mark is text (here not UTF-8 on its own).
        #expect((try? read([0xEF, 0xBB])) == nil)
        #expect(try read([0xEF, 0xBB, 0xBF]) == [])
    }

    @Test func blankLinesAreNotRecords() throws {
        #expect(try read("\r\n\na\r\n\r\n\nb\n\n") == [["a"], ["b"]])
        #expect(try read("") == [])
    }

    @Test func malformedInputNamesItsRecord() {
        #expect(problem("a\nb\n\"c\"d\n") == CSVReader.Problem(kind: .textAfterClosingQuote, record: 3))
        #expect(problem("a\n\"b\nc") == CSVReader.Problem(kind: .unterminatedQuote, record: 2))
        var invalid = Array("a\nb,".utf8)
        invalid.append(0xFF)
        invalid += Array("\n".utf8)
        #expect((try? read(invalid)) == nil)
        do {
            _ = try read(invalid)
        } catch let problem as CSVReader.Problem {
            #expect(problem == CSVReader.Problem(kind: .invalidUTF8, record: 2))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func limitsBoundWhatOneRecordMayHold() {
        let limits = CSVReader.Limits(maxFieldBytes: 8, maxRecordBytes: 20, maxFields: 3)
        #expect(problem("a\n123456789\n", limits: limits) == CSVReader.Problem(kind: .fieldTooLong, record: 2))
        #expect(problem("a,b,c,d\n", limits: limits) == CSVReader.Problem(kind: .tooManyFields, record: 1))
        #expect(problem("x\n1234567,1234567,1234567\n", limits: limits) == CSVReader.Problem(kind: .recordTooLong, record: 2))
        // A long file of short records is no problem: the limits are per record.
        #expect((try? read(Array(String(repeating: "1,2\n", count: 1000).utf8), limits: limits))?.count == 1000)
    }

    @Test func recordsAreCountedAsTheyComplete() throws {
        var reader = CSVReader()
        var seen: [[String]] = []
        try reader.feed(Array("h\n1\n2".utf8)) { seen.append($0) }
        #expect(seen == [["h"], ["1"]] && reader.records == 2)
        try reader.finish { seen.append($0) }
        #expect(seen.count == 3 && reader.records == 3)
    }

    /// Found by the fuzzer: a field read in bulk past both limits reported the record's limit
    /// where a byte at a time meets the field's first. However the input is cut, the same problem.
    @Test func aLongFieldIsTheSameProblemInAnyPieces() {
        let limits = CSVReader.Limits(maxFieldBytes: 64, maxRecordBytes: 256, maxFields: 8)
        let input = Array(String(repeating: "x", count: 300).utf8)
        func problem(_ pieces: [[UInt8]]) -> CSVReader.Problem? {
            var reader = CSVReader(limits: limits)
            do {
                for piece in pieces { try reader.feed(piece) { _ in } }
                try reader.finish { _ in }
                return nil
            } catch {
                return error as? CSVReader.Problem
            }
        }
        let whole = problem([input])
        #expect(whole == CSVReader.Problem(kind: .fieldTooLong, record: 1))
        #expect(problem(input.map { [$0] }) == whole)
        #expect(problem([Array(input[..<200]), Array(input[200...])]) == whole)
    }
}
