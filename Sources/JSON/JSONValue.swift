/// A JSON document as parsed from untrusted input or built for a response.
///
/// Objects keep their members in order (responses read the way they were built) and numbers keep
/// their exact lexeme, so a customer's `12345678901234567890` survives a round trip unchanged.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])
    /// Text that is already valid JSON, written out as it is: for documents stored as JSON text
    /// (a contact's variables) that would otherwise be parsed only to be written again. The
    /// parser never produces it.
    case verbatim(String)

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)), let (.verbatim(a), .verbatim(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// Verbatim text parsed into a value; any other value as it is. What a reader of
    /// `parse(_:verbatimBelow:)` output calls where it needs the structure after all.
    public var materialized: JSONValue {
        guard case .verbatim(let text) = self else { return self }
        return (try? JSONParser.parse(text)) ?? self
    }
    public static func int64(_ value: Int64) -> JSONValue { .number(String(value)) }

    /// Builds an object from members in order, dropping members whose value is `nil`.
    public static func object(_ members: KeyValuePairs<String, JSONValue?>) -> JSONValue {
        .object(members.compactMap { member in member.value.map { (member.key, $0) } })
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int? {
        if case .number(let lexeme) = self { return Int(lexeme) }
        return nil
    }

    /// Any number, as the nearest double.
    public var doubleValue: Double? {
        if case .number(let lexeme) = self { return Double(lexeme) }
        return nil
    }

    /// The shortest text that reads back as `value` (a finite number).
    public static func double(_ value: Double) -> JSONValue { .number(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)") }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var objectMembers: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The JSON type name, for error messages ("expected a string, got number").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .verbatim: return "JSON text"
        }
    }
}
