/// Encodes any `Encodable` to a `JSONValue`, members in the order the type encodes them; nil
/// optionals encoded with `encodeIfPresent` (the synthesized default) are left out.
public final class JSONValueEncoder: Encoder {
    /// What is being built: containers hold nodes by reference, because Codable hands out
    /// containers as values that must all write into the same document.
    final class Node {
        enum Content {
            case empty
            case value(JSONValue)
            case object([(key: String, node: Node)])
            case array([Node])
        }

        var content = Content.empty

        var finished: JSONValue {
            switch content {
            case .empty: return .object([])
            case .value(let value): return value
            case .object(let members): return .object(members.map { ($0.key, $0.node.finished) })
            case .array(let items): return .array(items.map(\.finished))
            }
        }

        func appendMember(_ key: String) -> Node {
            let child = Node()
            if case .object(var members) = content {
                content = .empty
                members.append((key, child))
                content = .object(members)
            } else {
                content = .object([(key, child)])
            }
            return child
        }

        func appendItem() -> Node {
            let child = Node()
            if case .array(var items) = content {
                content = .empty
                items.append(child)
                content = .array(items)
            } else {
                content = .array([child])
            }
            return child
        }
    }

    let node: Node
    public let codingPath: [any CodingKey]
    public var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey]) {
        self.node = node
        self.codingPath = codingPath
    }

    public static func encode(_ value: some Encodable) throws -> JSONValue {
        if let fast = value as? any JSONRepresentable { return fast.json }
        let encoder = JSONValueEncoder(node: Node(), codingPath: [])
        try value.encode(to: encoder)
        return encoder.node.finished
    }

    static func encode(_ value: some Encodable, into node: Node, codingPath: [any CodingKey]) throws {
        if let fast = value as? any JSONRepresentable {
            node.content = .value(fast.json)
        } else {
            try value.encode(to: JSONValueEncoder(node: node, codingPath: codingPath))
        }
    }

    public func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .empty = node.content { node.content = .object([]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    public func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .empty = node.content { node.content = .array([]) }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    public func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(node: node, codingPath: codingPath) }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        let codingPath: [any CodingKey]

        mutating func encodeNil(forKey key: Key) throws { node.appendMember(key.stringValue).content = .value(.null) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try JSONValueEncoder.encode(value, into: node.appendMember(key.stringValue), codingPath: codingPath + [key])
        }

        // The common primitives without the generic path the standard library's defaults take.
        mutating func encode(_ value: String, forKey key: Key) throws { node.appendMember(key.stringValue).content = .value(.string(value)) }
        mutating func encode(_ value: Int, forKey key: Key) throws { node.appendMember(key.stringValue).content = .value(.int(value)) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { node.appendMember(key.stringValue).content = .value(.int64(value)) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { node.appendMember(key.stringValue).content = .value(.bool(value)) }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            JSONValueEncoder(node: node.appendMember(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            JSONValueEncoder(node: node.appendMember(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { JSONValueEncoder(node: node.appendMember("super"), codingPath: codingPath) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { JSONValueEncoder(node: node.appendMember(key.stringValue), codingPath: codingPath + [key]) }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]
        var count: Int {
            if case .array(let items) = node.content { return items.count }
            return 0
        }

        mutating func encodeNil() throws { node.appendItem().content = .value(.null) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try JSONValueEncoder.encode(value, into: node.appendItem(), codingPath: codingPath + [IndexKey(intValue: count)])
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            JSONValueEncoder(node: node.appendItem(), codingPath: codingPath).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            JSONValueEncoder(node: node.appendItem(), codingPath: codingPath).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { JSONValueEncoder(node: node.appendItem(), codingPath: codingPath) }
    }

    struct SingleValueContainer: SingleValueEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]

        mutating func encodeNil() throws { node.content = .value(.null) }
        mutating func encode(_ value: Bool) throws { node.content = .value(.bool(value)) }
        mutating func encode(_ value: String) throws { node.content = .value(.string(value)) }
        mutating func encode(_ value: Double) throws { try encodeFloatingPoint(value) }
        mutating func encode(_ value: Float) throws { try encodeFloatingPoint(value) }
        mutating func encode(_ value: Int) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: Int8) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: Int16) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: Int32) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: Int64) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: UInt) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: UInt8) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: UInt16) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: UInt32) throws { node.content = .value(.number(String(value))) }
        mutating func encode(_ value: UInt64) throws { node.content = .value(.number(String(value))) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try JSONValueEncoder.encode(value, into: node, codingPath: codingPath)
        }

        private func encodeFloatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) throws {
            guard value.isFinite else {
                throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "JSON has no \(value)"))
            }
            node.content = .value(.number(value.description))
        }
    }
}
