/// Why a document was refused, with the byte offset where the parser stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case unexpectedEnd = "unexpected end of input"
        case unexpectedByte = "unexpected character"
        case invalidNumber = "invalid number"
        case invalidString = "invalid string"
        case invalidEscape = "invalid escape sequence"
        case invalidUTF8 = "invalid UTF-8"
        case tooDeep = "nesting too deep"
        case duplicateKey = "duplicate object key"
        case trailingData = "unexpected data after the document"
        case numberTooLong = "number too long"
    }

    public let reason: Reason
    public let offset: Int

    public init(reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "\(reason.rawValue) at byte \(offset)" }
}

/// A strict RFC 8259 parser over bytes: bounded depth, duplicate keys refused, UTF-8 validated.
///
/// Strict because the input is a customer's request: a duplicate key or a lone surrogate is a
/// question the customer should answer, not one we should guess.
public struct JSONParser {
    public static let defaultMaxDepth = 64
    static let maxNumberLength = 256

    /// - Parameter verbatimBelow: objects and arrays nested deeper than this come back as
    ///   `.verbatim` text, checked for well-formedness but not built (nor checked for duplicate
    ///   keys). For lines between our own processes, whose deep parts (a contact's variables)
    ///   are passed on as text.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth,
                             verbatimBelow: Int = .max) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSONValue in try parse(buffer, maxDepth: maxDepth, verbatimBelow: verbatimBelow) }
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { buffer throws(JSONParseError) in
            try parse(buffer, maxDepth: maxDepth, verbatimBelow: verbatimBelow)
        }
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int, verbatimBelow: Int) throws(JSONParseError) -> JSONValue {
        var parser = Cursor(bytes: buffer, maxDepth: maxDepth, verbatimBelow: verbatimBelow)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == buffer.count else { throw parser.failure(.trailingData) }
        return value
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        let verbatimBelow: Int
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, verbatimBelow: Int = .max) {
            self.bytes = bytes
            self.maxDepth = maxDepth
            self.verbatimBelow = verbatimBelow
        }

        func failure(_ reason: JSONParseError.Reason) -> JSONParseError {
            JSONParseError(reason: reason, offset: index)
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        func peek() throws(JSONParseError) -> UInt8 {
            guard index < bytes.count else { throw failure(.unexpectedEnd) }
            return bytes[index]
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw failure(.unexpectedEnd) }
            let start = literal.utf8Start
            for offset in 0..<count where bytes[index + offset] != start[offset] {
                index += offset
                throw failure(.unexpectedByte)
            }
            index += count
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            let first = try peek()
            if depth >= verbatimBelow, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                let start = index
                try skipValue(depth: depth)
                guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) else {
                    throw JSONParseError(reason: .invalidUTF8, offset: start)
                }
                return .verbatim(text)
            }
            switch first {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw failure(.unexpectedByte)
            }
        }

        /// Checks one value's syntax without building it.
        mutating func skipValue(depth: Int) throws(JSONParseError) {
            switch try peek() {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                guard depth + 1 <= maxDepth else { throw failure(.tooDeep) }
                index += 1
                skipWhitespace()
                if try peek() == close {
                    index += 1
                    return
                }
                while true {
                    skipWhitespace()
                    if isObject {
                        guard try peek() == UInt8(ascii: "\"") else { throw failure(.unexpectedByte) }
                        _ = try parseString()
                        skipWhitespace()
                        guard try peek() == UInt8(ascii: ":") else { throw failure(.unexpectedByte) }
                        index += 1
                        skipWhitespace()
                    }
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    let next = try peek()
                    index += 1
                    if next == close { return }
                    guard next == UInt8(ascii: ",") else {
                        index -= 1
                        throw failure(.unexpectedByte)
                    }
                }
            case UInt8(ascii: "\""): _ = try parseString()
            case UInt8(ascii: "t"): try expectLiteral("true")
            case UInt8(ascii: "f"): try expectLiteral("false")
            case UInt8(ascii: "n"): try expectLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try parseNumber()
            default: throw failure(.unexpectedByte)
            }
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= maxDepth else { throw failure(.tooDeep) }
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            // Most objects are small: scanning their keys beats hashing every one.
            var seen: Set<String> = []
            skipWhitespace()
            if try peek() == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard try peek() == UInt8(ascii: "\"") else { throw failure(.unexpectedByte) }
                let keyOffset = index
                let key = try parseString()
                let duplicate: Bool
                if members.count < 16 {
                    duplicate = members.contains { $0.key == key }
                } else {
                    if seen.isEmpty { seen = Set(members.map(\.key)) }
                    duplicate = !seen.insert(key).inserted
                }
                guard !duplicate else { throw JSONParseError(reason: .duplicateKey, offset: keyOffset) }
                skipWhitespace()
                guard try peek() == UInt8(ascii: ":") else { throw failure(.unexpectedByte) }
                index += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth)))
                skipWhitespace()
                switch try peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return .object(members)
                default: throw failure(.unexpectedByte)
                }
            }
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= maxDepth else { throw failure(.tooDeep) }
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if try peek() == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth))
                skipWhitespace()
                switch try peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(items)
                default: throw failure(.unexpectedByte)
                }
            }
        }

        mutating func parseNumber() throws(JSONParseError) -> String {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw failure(.invalidNumber) }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if isDigit(bytes[index]) {
                skipDigits()
            } else {
                throw failure(.invalidNumber)
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw failure(.invalidNumber) }
                skipDigits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw failure(.invalidNumber) }
                skipDigits()
            }
            guard index - start <= JSONParser.maxNumberLength else {
                throw JSONParseError(reason: .numberTooLong, offset: start)
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        mutating func skipDigits() {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }

        mutating func parseString() throws(JSONParseError) -> String {
            index += 1
            let start = index
            // Fast path: no escapes, so the bytes between the quotes are the string; ASCII needs
            // no UTF-8 validation.
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    if ascii {
                        index += 1
                        return String(decoding: slice, as: UTF8.self)
                    }
                    guard let string = String(validating: slice, as: UTF8.self) else {
                        throw JSONParseError(reason: .invalidUTF8, offset: start)
                    }
                    index += 1
                    return string
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw failure(.invalidString) }
                ascii = ascii && byte < 0x80
                index += 1
            }
            guard index < bytes.count else { throw failure(.unexpectedEnd) }
            var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while true {
                guard index < bytes.count else { throw failure(.unexpectedEnd) }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let string = String(validating: scratch, as: UTF8.self) else {
                        throw JSONParseError(reason: .invalidUTF8, offset: start)
                    }
                    return string
                case UInt8(ascii: "\\"):
                    index += 1
                    try appendEscape(to: &scratch)
                case 0..<0x20:
                    throw failure(.invalidString)
                default:
                    scratch.append(byte)
                    index += 1
                }
            }
        }

        mutating func appendEscape(to scratch: inout [UInt8]) throws(JSONParseError) {
            let byte = try peek()
            index += 1
            switch byte {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw failure(.invalidEscape)
                    }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw failure(.invalidEscape) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure(.invalidEscape)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw failure(.invalidEscape) }
                scratch.append(contentsOf: UTF8.encode(unicode)!)
            default:
                index -= 1
                throw failure(.invalidEscape)
            }
        }

        mutating func parseHex4() throws(JSONParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw failure(.unexpectedEnd) }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw failure(.invalidEscape)
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
