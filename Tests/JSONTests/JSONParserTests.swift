import JSON
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#"{"a":[1,-2.5e3,true,false,null],"b":"x\n\u00e9\ud83d\ude00","c":{}}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\né😀"))
        #expect(value["c"] == .object([]))
    }

    @Test func keepsMemberOrderAndNumberLexemes() throws {
        let text = #"{"z":12345678901234567890123,"a":0.1000}"#
        #expect(try JSONParser.parse(text).jsonText == text)
    }

    @Test(arguments: [
        ("", JSONParseError.Reason.unexpectedEnd),
        ("{", .unexpectedEnd),
        (#"{"a":1,"a":2}"#, .duplicateKey),
        ("[1,]", .unexpectedByte),
        ("01", .trailingData),
        ("1.", .invalidNumber),
        ("-", .invalidNumber),
        (#""\x""#, .invalidEscape),
        (#""\ud800""#, .invalidEscape),
        (#""\udc00""#, .invalidEscape),
        ("\"a\u{01}\"", .invalidString),
        ("nul", .unexpectedEnd),
        ("{} {}", .trailingData),
        ("NaN", .unexpectedByte),
    ])
    func refusesMalformedInput(text: String, reason: JSONParseError.Reason) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        do {
            _ = try JSONParser.parse(text)
        } catch {
            #expect(error.reason == reason, "\(text)")
        }
    }

    @Test func refusesInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: JSONParseError(reason: .invalidUTF8, offset: 1)) { try JSONParser.parse(bytes) }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(fine)
    }

    @Test func boundsNumberLength() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "9", count: 1000)) }
    }

    @Test func escapesWhatMustBeEscaped() {
        let value = JSONValue.string("q\"b\\n\n\u{01}é")
        #expect(value.jsonText == #""q\"b\\n\n\u0001é""#)
    }

    @Test func roundTripsStringsWithQuotesSQLAndEmoji() throws {
        let value = JSONValue.object([("k", .string("'; DROP TABLE contacts; -- \"😀\""))])
        #expect(try JSONParser.parse(value.serialized()) == value)
    }
}

@Suite struct VerbatimParsingTests {
    @Test func keepsDeepValuesAsCheckedText() throws {
        let text = #"{"a":{"b":[{"c":{"d":[1,"x\"y",{"e":null}]}}]},"f":[[]]}"#
        let value = try JSONParser.parse(Array(text.utf8), verbatimBelow: 2)
        #expect(value["a"]?["b"] == .verbatim(#"[{"c":{"d":[1,"x\"y",{"e":null}]}}]"#))
        #expect(value["f"] == .array([.verbatim("[]")]))
        #expect(value.serialized() == Array(text.utf8))
        #expect(value["a"]?["b"]?.materialized == (try JSONParser.parse(#"[{"c":{"d":[1,"x\"y",{"e":null}]}}]"#)))
    }

    @Test(arguments: [#"{"a":{"b":[1,]}}"#, #"{"a":{"b":{"c" 1}}}"#, #"{"a":{"b":"\u12"}}"#, #"{"a":{"b":[tru]}}"#, #"{"a":{"b":{"c":1}"#])
    func refusesMalformedDeepValues(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8), verbatimBelow: 1) }
    }
}
