import Foundation

// Reads any Decodable back from a Value: the other half of ValueEncoding,
// for `parameters.get(as:)` and `track.read(as:)`. Numbers convert where no
// information is lost (an int into a Double, a whole double into an Int), as
// JSON decoders do; anything else is a DecodingError naming the path.

package enum ValueDecoding {
    /// `value` as a `T`; the error names `what` (else `T`), the key and what was found there.
    package static func decode<T: Decodable>(_ type: T.Type, from value: Value, what: String? = nil) throws(DreamlakeError) -> T {
        do {
            return try T(from: Decoder_(value: value, codingPath: []))
        } catch let error as DecodingError {
            throw DreamlakeError(.invalidValue, "\(what ?? "\(T.self)") could not be decoded: \(describe(error))")
        } catch {
            throw DreamlakeError(.invalidValue, "\(what ?? "\(T.self)") could not be decoded: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.isEmpty ? "at the top" : "at " + c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let c): return "the key \"\(key.stringValue)\" is missing \(path(c))"
        case .valueNotFound(_, let c), .typeMismatch(_, let c), .dataCorrupted(let c): return "\(c.debugDescription) \(path(c))"
        @unknown default: return "\(error)"
        }
    }

    /// A JSON object field taken as it is, keys in their order (``Value``
    /// itself is not `Decodable`: a general decoder would lose that order).
    /// Only this decoder reads it.
    package struct Object: Decodable, Sendable {
        package var fields: ValueObject

        package init(from decoder: any Decoder) throws {
            guard let d = decoder as? Decoder_ else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "only ValueDecoding reads a ValueDecoding.Object"))
            }
            guard case .object(let o) = d.value else {
                throw DecodingError.typeMismatch(ValueObject.self, .init(codingPath: d.codingPath, debugDescription: "expected an object, found \(kind(d.value))"))
            }
            fields = o
        }
    }

    struct Decoder_: Decoder {
        let value: Value
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let o) = value else { throw mismatch(ValueObject.self, value, codingPath) }
            return KeyedDecodingContainer(Keyed<Key>(object: o, codingPath: codingPath))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let a) = value else { throw mismatch([Value].self, value, codingPath) }
            return Unkeyed(array: a, codingPath: codingPath)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }
    }

    static func mismatch(_ type: Any.Type, _ value: Value, _ path: [any CodingKey]) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(type), found \(kind(value))"))
    }

    static func kind(_ v: Value) -> String {
        switch v {
        case .null: "null"
        case .bool: "a boolean"
        case .int(let i): "the integer \(i)"
        case .double(let d): "the number \(d)"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A value as `T`, for the primitive types every container reads.
    static func primitive<T>(_ value: Value, as type: T.Type, _ path: [any CodingKey]) throws -> T {
        func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
            switch value {
            case .int(let i): if let v = I(exactly: i) { return v }
            case .double(let d): if let v = I(exactly: d) { return v }
            default: break
            }
            throw mismatch(I.self, value, path)
        }
        let out: Any
        switch type {
        case is Bool.Type:
            guard case .bool(let b) = value else { throw mismatch(Bool.self, value, path) }
            out = b
        case is String.Type:
            guard case .string(let s) = value else { throw mismatch(String.self, value, path) }
            out = s
        case is Double.Type:
            switch value {
            case .double(let d): out = d
            case .int(let i): out = Double(i)
            default: throw mismatch(Double.self, value, path)
            }
        case is Float.Type:
            switch value {
            case .double(let d): out = Float(d)
            case .int(let i): out = Float(i)
            default: throw mismatch(Float.self, value, path)
            }
        case is Int.Type: out = try integer(Int.self)
        case is Int8.Type: out = try integer(Int8.self)
        case is Int16.Type: out = try integer(Int16.self)
        case is Int32.Type: out = try integer(Int32.self)
        case is Int64.Type: out = try integer(Int64.self)
        case is UInt.Type: out = try integer(UInt.self)
        case is UInt8.Type: out = try integer(UInt8.self)
        case is UInt16.Type: out = try integer(UInt16.self)
        case is UInt32.Type: out = try integer(UInt32.self)
        case is UInt64.Type: out = try integer(UInt64.self)
        default: throw mismatch(T.self, value, path)
        }
        guard let typed = out as? T else { throw mismatch(T.self, value, path) }
        return typed
    }

    /// Any Decodable: primitives directly, the types the encoder writes as strings back from them, the rest through a decoder.
    static func any<T: Decodable>(_ value: Value, as type: T.Type, _ path: [any CodingKey]) throws -> T {
        switch type {
        case is Bool.Type, is String.Type, is Double.Type, is Float.Type, is Int.Type, is Int8.Type, is Int16.Type,
             is Int32.Type, is Int64.Type, is UInt.Type, is UInt8.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type:
            return try primitive(value, as: type, path)
        case is Value.Type:
            guard let v = value as? T else { throw mismatch(T.self, value, path) }
            return v
        case is Date.Type:
            guard case .string(let s) = value, let d = ISO8601DateFormatter().date(from: s), let out = d as? T else {
                throw mismatch(Date.self, value, path)
            }
            return out
        case is URL.Type:
            guard case .string(let s) = value, let u = URL(string: s), let out = u as? T else { throw mismatch(URL.self, value, path) }
            return out
        default:
            return try T(from: Decoder_(value: value, codingPath: path))
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: ValueObject
        var codingPath: [any CodingKey]
        var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

        private func value(_ key: Key) throws -> Value {
            guard let v = object[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \"\(key.stringValue)\""))
            }
            return v
        }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try ValueDecoding.any(try value(key), as: type, codingPath + [key])
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try Decoder_(value: try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try Decoder_(value: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder { Decoder_(value: .object(object), codingPath: codingPath) }
        func superDecoder(forKey key: Key) throws -> any Decoder {
            Decoder_(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue ?? 0)" }
        init(_ i: Int) { intValue = i }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let array: [Value]
        var codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { array.count }
        var isAtEnd: Bool { currentIndex >= array.count }

        init(array: [Value], codingPath: [any CodingKey]) {
            self.array = array
            self.codingPath = codingPath
        }

        private mutating func next() throws -> (Value, [any CodingKey]) {
            guard currentIndex < array.count else {
                throw DecodingError.valueNotFound(Value.self, .init(codingPath: codingPath + [Index(currentIndex)], debugDescription: "the array ends"))
            }
            defer { currentIndex += 1 }
            return (array[currentIndex], codingPath + [Index(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard currentIndex < array.count, array[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (v, path) = try next()
            return try ValueDecoding.any(v, as: type, path)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (v, path) = try next()
            return try Decoder_(value: v, codingPath: path).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (v, path) = try next()
            return try Decoder_(value: v, codingPath: path).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder {
            let (v, path) = try next()
            return Decoder_(value: v, codingPath: path)
        }
    }

    struct Single: SingleValueDecodingContainer {
        let value: Value
        var codingPath: [any CodingKey]
        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try ValueDecoding.any(value, as: type, codingPath) }
    }
}
