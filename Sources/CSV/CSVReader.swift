/// Reads CSV (RFC 4180) fed in pieces of any size, as they arrive: each record comes out as soon
/// as its line ends, and only the record being read is held, so a file of any length is read in
/// the memory of its longest record.
///
/// What it takes: fields separated by commas; records ended by CRLF, LF or a lone CR, the last
/// one with or without a line end; quoted fields holding commas, line breaks and doubled quotes;
/// a UTF-8 byte order mark before the first record; blank lines, which are skipped. A quote in
/// an unquoted field is kept as it is (as spreadsheets write it). What it refuses, naming the
/// record: text after a quoted field's closing quote, a quote left open at the end, a field or a
/// record over its limit, too many fields, and bytes that are not UTF-8.
public struct CSVReader {
    public struct Limits: Sendable {
        public var maxFieldBytes: Int
        public var maxRecordBytes: Int
        public var maxFields: Int

        public init(maxFieldBytes: Int = 64 * 1024, maxRecordBytes: Int = 256 * 1024, maxFields: Int = 256) {
            self.maxFieldBytes = maxFieldBytes
            self.maxRecordBytes = maxRecordBytes
            self.maxFields = maxFields
        }
    }

    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public enum Kind: Equatable, Sendable {
            case textAfterClosingQuote
            case unterminatedQuote
            case fieldTooLong
            case recordTooLong
            case tooManyFields
            case invalidUTF8
        }

        public let kind: Kind
        /// Which record (1-based, counting the header and not blank lines).
        public let record: Int

        public init(kind: Kind, record: Int) {
            self.kind = kind
            self.record = record
        }

        public var description: String {
            switch kind {
            case .textAfterClosingQuote: return "text follows a quoted field's closing quote (a quote inside a quoted field must be doubled)"
            case .unterminatedQuote: return "a quoted field is not closed before the end of the file"
            case .fieldTooLong: return "a field is longer than the limit"
            case .recordTooLong: return "the row is longer than the limit"
            case .tooManyFields: return "the row has too many fields"
            case .invalidUTF8: return "the row is not valid UTF-8"
            }
        }
    }

    private enum State {
        /// At the start of a field (or of a record: `fields` is empty and nothing was read).
        case fieldStart
        case unquoted
        case quoted
        /// A quote inside a quoted field: the field's end, or the first of a doubled quote.
        case quoteInQuoted
        /// A CR ended a record: an LF right after it belongs to that line end.
        case afterCR
    }

    private let limits: Limits
    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var fields: [String] = []
    private var recordBytes = 0
    /// Records read so far (the one being read is `records + 1`).
    public private(set) var records = 0
    private var atStart = true
    private var bomMatched = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Reads `bytes`, calling `record` with each record completed in them.
    public mutating func feed(_ bytes: [UInt8], _ record: ([String]) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                // The common case in bulk: the bytes of an unquoted field up to its end.
                if case .unquoted = state {
                    let start = index
                    while index < buffer.count, !Self.endsUnquoted(buffer[index]) { index += 1 }
                    if index > start { try append(buffer[start..<index]) }
                    if index == buffer.count { break }
                }
                try takeOne(buffer[index], record)
                index += 1
            }
        }
    }

    /// A comma, CR or LF: what ends an unquoted field.
    private static func endsUnquoted(_ byte: UInt8) -> Bool { byte == UInt8(ascii: ",") || byte == 13 || byte == 10 }

    private mutating func takeOne(_ byte: UInt8, _ record: ([String]) throws -> Void) throws {
        if atStart {
            // A byte order mark is three bytes that may arrive in separate pieces.
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            if byte == bom[bomMatched] {
                bomMatched += 1
                if bomMatched == 3 { atStart = false }
                return
            }
            atStart = false
            let partial = bom.prefix(bomMatched)
            bomMatched = 0
            for earlier in partial { try take(earlier, record) }
        }
        try take(byte, record)
    }

    /// The end of the input: the last record, if its line had no end.
    public mutating func finish(_ record: ([String]) throws -> Void) throws {
        if atStart, bomMatched > 0 {
            atStart = false
            let partial = [UInt8]([0xEF, 0xBB, 0xBF].prefix(bomMatched))
            bomMatched = 0
            try feed(partial, record)
        }
        switch state {
        case .quoted:
            throw Problem(kind: .unterminatedQuote, record: records + 1)
        case .afterCR:
            state = .fieldStart
        case .fieldStart where fields.isEmpty:
            break
        case .fieldStart, .unquoted, .quoteInQuoted:
            try endRecord(record)
        }
    }

    private mutating func take(_ byte: UInt8, _ record: ([String]) throws -> Void) throws {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr: UInt8 = 13, lf: UInt8 = 10
        if case .afterCR = state {
            state = .fieldStart
            if byte == lf { return }
        }
        recordBytes += 1
        guard recordBytes <= limits.maxRecordBytes else { throw Problem(kind: .recordTooLong, record: records + 1) }
        switch state {
        case .fieldStart:
            switch byte {
            case quote: state = .quoted
            case comma: try endField()
            case cr, lf:
                if fields.isEmpty {
                    // A blank line: no record.
                    recordBytes = 0
                    if byte == cr { state = .afterCR }
                } else {
                    try endRecord(record)
                    if byte == cr { state = .afterCR }
                }
            default:
                try append(byte)
                state = .unquoted
            }
        case .unquoted:
            if try !endsFieldOrRecord(byte, record) { try append(byte) }
        case .quoted:
            if byte == quote { state = .quoteInQuoted } else { try append(byte) }
        case .quoteInQuoted:
            if byte == quote {
                try append(quote)
                state = .quoted
            } else if try !endsFieldOrRecord(byte, record) {
                throw Problem(kind: .textAfterClosingQuote, record: records + 1)
            }
        case .afterCR:
            break
        }
    }

    /// After a field's text: a comma ends the field, a CR or LF the record; false for any other byte.
    private mutating func endsFieldOrRecord(_ byte: UInt8, _ record: ([String]) throws -> Void) throws -> Bool {
        switch byte {
        case UInt8(ascii: ","):
            try endField()
            state = .fieldStart
        case 13, 10:
            try endRecord(record)
            state = byte == 13 ? .afterCR : .fieldStart
        default:
            return false
        }
        return true
    }

    private mutating func append(_ byte: UInt8) throws {
        guard field.count < limits.maxFieldBytes else { throw Problem(kind: .fieldTooLong, record: records + 1) }
        field.append(byte)
    }

    /// Several bytes of an unquoted field at once (`take` counts one byte at a time).
    private mutating func append(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws {
        // The limit a byte at a time would meet first: for one byte the record's is checked
        // before the field's (a piece's size must never change which problem is reported).
        let recordRoom = limits.maxRecordBytes - recordBytes, fieldRoom = limits.maxFieldBytes - field.count
        if bytes.count > min(recordRoom, fieldRoom) {
            throw Problem(kind: recordRoom <= fieldRoom ? .recordTooLong : .fieldTooLong, record: records + 1)
        }
        recordBytes += bytes.count
        field.append(contentsOf: bytes)
    }

    private mutating func endField() throws {
        guard fields.count < limits.maxFields else { throw Problem(kind: .tooManyFields, record: records + 1) }
        guard let text = String(validating: field, as: UTF8.self) else { throw Problem(kind: .invalidUTF8, record: records + 1) }
        fields.append(text)
        field.removeAll(keepingCapacity: true)
    }

    private mutating func endRecord(_ record: ([String]) throws -> Void) throws {
        try endField()
        records += 1
        recordBytes = 0
        let complete = fields
        fields.removeAll(keepingCapacity: true)
        try record(complete)
    }
}
