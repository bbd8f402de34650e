import CSV
import JSON
import Protocol
import Telephony

/// Contacts from a CSV file's records, one at a time: the header row names the columns
/// (`phone_number`, or `phone`, `number`, `phone number`, in any case; optionally `timezone`;
/// every other column a string variable), and each row after it is checked as the JSON upload
/// checks a contact. Valid rows wait in `batch` until taken; invalid ones are counted, and the
/// first `listed` problems described with their row (1-based, the header not counted).
struct CSVContacts {
    enum Column: Equatable {
        case phoneNumber
        case timezone
        /// A string variable; `key` is its name as a JSON string, ready to write.
        case variable(key: [UInt8])
    }

    static let phoneAliases: Set<String> = ["phone_number", "phone", "number", "phone number"]

    let defaultCountry: String?
    let maxRows: Int
    /// Invalid rows described in `errors` (all are counted).
    let listed: Int
    private(set) var columns: [Column]?
    /// Data rows read (the header not counted).
    private(set) var rows = 0
    private(set) var invalidRows = 0
    private(set) var errors: [FieldError] = []
    /// Valid contacts not yet taken.
    var batch = ContactBatch()

    init(defaultCountry: String?, maxRows: Int, listed: Int = FieldLimits.reportedErrors) {
        self.defaultCountry = defaultCountry
        self.maxRows = maxRows
        self.listed = listed
    }

    /// The header's columns, or a 422 saying what is wrong with it.
    static func columns(_ header: [String]) throws(APIError) -> [Column] {
        var columns: [Column] = []
        var seen: Set<String> = []
        for (position, raw) in header.enumerated() {
            let name = Self.trimmed(raw)
            guard !name.isEmpty else { throw Self.badHeader("column \(position + 1) has no name") }
            guard seen.insert(name.lowercased()).inserted else { throw Self.badHeader("the column \"\(name)\" appears twice") }
            if phoneAliases.contains(name.lowercased()) {
                guard !columns.contains(.phoneNumber) else {
                    throw Self.badHeader("more than one column names the phone number (phone_number, phone, number, phone number)")
                }
                columns.append(.phoneNumber)
            } else if name.lowercased() == "timezone" {
                columns.append(.timezone)
            } else {
                var key: [UInt8] = []
                JSONValue.writeString(name, into: &key)
                columns.append(.variable(key: key))
            }
        }
        guard columns.contains(.phoneNumber) else {
            throw Self.badHeader("no column names the phone number (phone_number, or phone, number, phone number)")
        }
        return columns
    }

    /// Without the spaces and tabs around it (a spreadsheet's padding); the text itself when
    /// there are none, which is nearly always.
    static func trimmed(_ text: String) -> String {
        let utf8 = text.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        guard let first = utf8.first, let last = utf8.last, isBlank(first) || isBlank(last) else { return text }
        guard let start = utf8.firstIndex(where: { !isBlank($0) }), let end = utf8.lastIndex(where: { !isBlank($0) }) else { return "" }
        // Both ends sit next to an ASCII blank (or the text's ends), so they are character boundaries.
        return String(text[start..<utf8.index(after: end)])
    }

    static func badHeader(_ reason: String) -> APIError {
        APIError(422, "invalid_csv", "the header row: \(reason); nothing was inserted")
    }

    /// Takes the next record: the header first, then the rows.
    mutating func take(_ record: [String]) throws(APIError) {
        guard let columns else {
            self.columns = try Self.columns(record)
            return
        }
        rows += 1
        guard rows <= maxRows else {
            throw APIError(413, "too_many_contacts", "one CSV upload may hold at most \(maxRows) contacts; split the file")
        }
        var problems: [FieldError] = []
        func fail(_ field: String, _ reason: String) { problems.append(FieldError(field, reason, index: rows - 1, row: rows)) }
        guard record.count == columns.count else {
            fail("row", "has \(record.count) fields; the header has \(columns.count)")
            return reject(problems)
        }
        var phone: String?
        var zone: String?
        // The other columns as a JSON object of strings, written straight into bytes.
        var text: [UInt8] = [UInt8(ascii: "{")]
        for (column, value) in zip(columns, record) {
            switch column {
            case .phoneNumber:
                switch PhoneNumber.canonical(Self.trimmed(value), defaultCountry: defaultCountry) {
                case .success(let number): phone = number
                case .failure(let invalid): fail("phone_number", value.isEmpty ? "is required" : invalid.reason)
                }
            case .timezone:
                let name = Self.trimmed(value)
                guard !name.isEmpty else { continue }
                if let problem = FieldLimits.timezoneProblem(name) { fail("timezone", problem) } else { zone = name }
            case .variable(let key):
                if text.count > 1 { text.append(UInt8(ascii: ",")) }
                text += key
                text.append(UInt8(ascii: ":"))
                JSONValue.writeString(value, into: &text)
            }
        }
        text.append(UInt8(ascii: "}"))
        if text.count > FieldLimits.variablesBytes {
            fail("variables", "the row's other columns must be at most \(FieldLimits.variablesBytes) bytes as JSON")
        }
        guard let phone, problems.isEmpty else { return reject(problems) }
        batch.append(phoneNumber: phone, variables: text, timezone: zone)
    }

    private mutating func reject(_ problems: [FieldError]) {
        invalidRows += 1
        errors.append(contentsOf: problems.prefix(max(0, listed - errors.count)))
    }

    /// A problem of the file's syntax, as a 422 naming its row.
    static func unreadable(_ problem: CSVReader.Problem) -> APIError {
        guard problem.record > 1 else { return badHeader(problem.description) }
        let row = problem.record - 1
        return APIError(422, "invalid_csv", "row \(row): \(problem); nothing was inserted",
                        details: .array([FieldError("row", problem.description, index: row - 1, row: row).json]))
    }
}
