/// A type that converts itself to and from `JSONValue` by hand, skipping `Codable`'s container
/// machinery: for the bulk types (100,000 contacts in one message) where that machinery costs more
/// than the data. `JSONValueEncoder` and `JSONValueDecoder` use it wherever the type appears.
public protocol JSONRepresentable {
    init(json: JSONValue) throws
    var json: JSONValue { get }
}

extension JSONRepresentable {
    /// The shared error for a hand-written `init(json:)` that met the wrong shape.
    public static func mismatch(_ what: String, in value: JSONValue) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(Self.self): expected \(what), got \(value.typeName)"))
    }
}

/// Decodes any `Decodable` from a parsed `JSONValue`: numbers come from their exact lexeme,
/// absent and `null` members are both "nil".
public struct JSONValueDecoder: Decoder {
    public let value: JSONValue
    public let codingPath: [any CodingKey]
    public var userInfo: [CodingUserInfoKey: Any] { [:] }

    public init(_ value: JSONValue, codingPath: [any CodingKey] = []) {
        self.value = value.materialized
        self.codingPath = codingPath
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try JSONValueDecoder(value).decode(type)
    }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected \(expected), got \(value.typeName)"))
    }

    public func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch("an object") }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    public func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch("an array") }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    public func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [(key: String, value: JSONValue)]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

        func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

        private func child(_ key: Key) throws -> JSONValueDecoder {
            guard let member = members.first(where: { $0.key == key.stringValue }) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \"\(key.stringValue)\""))
            }
            return JSONValueDecoder(member.value, codingPath: codingPath + [key])
        }

        func decodeNil(forKey key: Key) throws -> Bool {
            guard let member = members.first(where: { $0.key == key.stringValue }) else { return true }
            return member.value == .null
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }

        // The common primitives without the generic path (and its dynamic cast) that the
        // standard library's defaults would take.
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).decode(type) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decode(type) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decode(type) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decode(type) }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).decode(type) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).decode(type) }

        private func present(_ key: Key) -> JSONValueDecoder? {
            guard let member = members.first(where: { $0.key == key.stringValue }), member.value != .null else { return nil }
            return JSONValueDecoder(member.value, codingPath: codingPath + [key])
        }

        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key)?.decode(type) }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key)?.decode(type) }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key)?.decode(type) }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key)?.decode(type) }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key)?.decode(type) }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(key)?.decode(type) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try child(key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
        func superDecoder() throws -> any Decoder { JSONValueDecoder(.object(members), codingPath: codingPath) }
        func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let items: [JSONValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0

        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        private mutating func next() throws -> JSONValueDecoder {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "array ended at \(currentIndex)"))
            }
            defer { currentIndex += 1 }
            return JSONValueDecoder(items[currentIndex], codingPath: codingPath + [IndexKey(intValue: currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try next().container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }
}

extension JSONValueDecoder: SingleValueDecodingContainer {
    public func decodeNil() -> Bool { value == .null }

    public func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch("a boolean") }
        return flag
    }

    public func decode(_ type: String.Type) throws -> String {
        guard case .string(let text) = value else { throw mismatch("a string") }
        return text
    }

    public func decode(_ type: Double.Type) throws -> Double { try number(Double.init) }
    public func decode(_ type: Float.Type) throws -> Float { try number(Float.init) }
    public func decode(_ type: Int.Type) throws -> Int { try number { Int($0) } }
    public func decode(_ type: Int8.Type) throws -> Int8 { try number { Int8($0) } }
    public func decode(_ type: Int16.Type) throws -> Int16 { try number { Int16($0) } }
    public func decode(_ type: Int32.Type) throws -> Int32 { try number { Int32($0) } }
    public func decode(_ type: Int64.Type) throws -> Int64 { try number { Int64($0) } }
    public func decode(_ type: UInt.Type) throws -> UInt { try number { UInt($0) } }
    public func decode(_ type: UInt8.Type) throws -> UInt8 { try number { UInt8($0) } }
    public func decode(_ type: UInt16.Type) throws -> UInt16 { try number { UInt16($0) } }
    public func decode(_ type: UInt32.Type) throws -> UInt32 { try number { UInt32($0) } }
    public func decode(_ type: UInt64.Type) throws -> UInt64 { try number { UInt64($0) } }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let fast = type as? any JSONRepresentable.Type { return try fast.init(json: value) as! T }
        return try T(from: self)
    }

    private func number<T>(_ convert: (String) -> T?) throws -> T {
        guard case .number(let lexeme) = value else { throw mismatch("a number") }
        guard let converted = convert(lexeme) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(lexeme) does not fit \(T.self)"))
        }
        return converted
    }
}

struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { return nil }
}

/// Reads an object's members for a hand-written `JSONRepresentable.init(json:)`, with the same
/// rules as `JSONValueDecoder`: absent and `null` are both nil.
public struct JSONMembers {
    let members: [(key: String, value: JSONValue)]
    let owner: String

    public init(_ value: JSONValue, of owner: Any.Type) throws {
        guard case .object(let members) = value.materialized else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(owner): expected an object, got \(value.typeName)"))
        }
        self.members = members
        self.owner = "\(owner)"
    }

    public subscript(key: String) -> JSONValue? {
        guard let value = members.first(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    private func invalid(_ key: String, _ expected: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: "\(owner).\(key): expected \(expected)"))
    }

    public func string(_ key: String) throws -> String {
        guard let text = try optionalString(key) else { throw invalid(key, "a string") }
        return text
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let text) = value else { throw invalid(key, "a string") }
        return text
    }

    // Int and Int64 spelled out: a generic version, called from another module, is not
    // specialized and looked up type metadata for every member of every contact.
    public func integer(_ key: String) throws -> Int {
        guard let number = try optionalInteger(key) else { throw invalid(key, "an integer") }
        return number
    }

    public func optionalInteger(_ key: String) throws -> Int? {
        try optionalInt64(key).map { Int($0) }
    }

    public func int64(_ key: String) throws -> Int64 {
        guard let number = try optionalInt64(key) else { throw invalid(key, "an integer") }
        return number
    }

    public func optionalInt64(_ key: String) throws -> Int64? {
        guard let value = self[key] else { return nil }
        guard case .number(let lexeme) = value, let number = Int64(lexeme) else { throw invalid(key, "an integer") }
        return number
    }

    public func array(_ key: String) throws -> [JSONValue] {
        guard case .array(let items)? = self[key]?.materialized else { throw invalid(key, "an array") }
        return items
    }

    /// A member holding JSON text: given as a nested value (the fast form, kept verbatim by
    /// the parser, so checked and on one line) or as a string (what `Codable` writes), which is
    /// parsed and written again so it is as safe to pass on verbatim.
    public func jsonText(_ key: String) throws -> String {
        switch self[key] {
        case .verbatim(let text)?: return text
        case .string(let text)?:
            guard let value = try? JSONParser.parse(text) else { throw invalid(key, "JSON text") }
            return value.jsonText
        case let value?: return value.jsonText
        case nil: throw invalid(key, "JSON text")
        }
    }
}
