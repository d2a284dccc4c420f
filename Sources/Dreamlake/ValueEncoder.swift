import Foundation

// Turns any Encodable into a Value, keeping the order in which the type
// encodes its keys (a synthesized Codable conformance encodes them in
// declaration order) and the int/double distinction.

enum ValueEncoding {
    static func encode<T: Encodable>(_ value: T) throws(DreamlakeError) -> Value {
        let encoder = Encoder_(codingPath: [])
        do {
            try value.encode(to: encoder)
        } catch {
            throw DreamlakeError(.invalidValue, "\(T.self) could not be encoded: \(error)")
        }
        return encoder.storage.value
    }

    /// A box the containers write into: what a container encodes lands in its slot.
    final class Slot {
        var value: Value = .null
        var object: ValueObject?
        var array: [Value]?
        var children: [(key: String?, slot: Slot)] = []

        /// The value, with nested containers folded in.
        func resolve() -> Value {
            if let object {
                var o = object
                for (k, s) in children { if let k { o[k] = s.resolve() } }
                return .object(o)
            }
            if var array {
                for (_, s) in children { array.append(s.resolve()) }
                return .array(array)
            }
            return value
        }
    }

    final class Storage {
        let root = Slot()
        var value: Value { root.resolve() }
    }

    struct Encoder_: Encoder {
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        let storage: Storage
        let slot: Slot

        init(codingPath: [any CodingKey], storage: Storage = Storage(), slot: Slot? = nil) {
            self.codingPath = codingPath
            self.storage = storage
            self.slot = slot ?? storage.root
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if slot.object == nil { slot.object = [:] }
            return KeyedEncodingContainer(Keyed<Key>(encoder: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if slot.array == nil { slot.array = [] }
            return Unkeyed(encoder: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

        /// Encodes a nested Encodable into a fresh slot.
        func box<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Value {
            if let v = ValueEncoding.primitive(value) { return v }
            let child = Slot()
            try value.encode(to: Encoder_(codingPath: path, storage: storage, slot: child))
            return child.resolve()
        }
    }

    static func primitive<T>(_ value: T) -> Value? {
        switch value {
        case let v as Value: return v
        case let v as Date: return .string(ISO8601DateFormatter().string(from: v))
        case let v as URL: return .string(v.absoluteString)
        case let v as Decimal: return .double(NSDecimalNumber(decimal: v).doubleValue)
        default: return nil
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: Encoder_
        var codingPath: [any CodingKey] { encoder.codingPath }

        private func set(_ v: Value, _ key: Key) { encoder.slot.object?[key.stringValue] = v }

        mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(.double(value), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { set(.double(Double(value)), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(.int(value), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { set(try ValueEncoding.unsigned(UInt64(value), key), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { set(try ValueEncoding.unsigned(value, key), key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            set(try encoder.box(value, path: codingPath + [key]), key)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            let child = Slot()
            encoder.slot.object?[key.stringValue] = .null  // keeps the key's place
            encoder.slot.children.append((key.stringValue, child))
            return Encoder_(codingPath: codingPath + [key], storage: encoder.storage, slot: child).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let child = Slot()
            encoder.slot.object?[key.stringValue] = .null
            encoder.slot.children.append((key.stringValue, child))
            return Encoder_(codingPath: codingPath + [key], storage: encoder.storage, slot: child).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: Encoder_
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count: Int { (encoder.slot.array?.count ?? 0) + encoder.slot.children.count }

        private func append(_ v: Value) {
            // Values after a nested container go into a child slot too, to keep their order.
            if encoder.slot.children.isEmpty {
                encoder.slot.array?.append(v)
            } else {
                let s = Slot()
                s.value = v
                encoder.slot.children.append((nil, s))
            }
        }

        mutating func encodeNil() throws { append(.null) }
        mutating func encode(_ value: Bool) throws { append(.bool(value)) }
        mutating func encode(_ value: String) throws { append(.string(value)) }
        mutating func encode(_ value: Double) throws { append(.double(value)) }
        mutating func encode(_ value: Float) throws { append(.double(Double(value))) }
        mutating func encode(_ value: Int) throws { append(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { append(.int(value)) }
        mutating func encode(_ value: Int32) throws { append(.int(Int64(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            append(try encoder.box(value, path: codingPath))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let child = Slot()
            encoder.slot.children.append((nil, child))
            return Encoder_(codingPath: codingPath, storage: encoder.storage, slot: child).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let child = Slot()
            encoder.slot.children.append((nil, child))
            return Encoder_(codingPath: codingPath, storage: encoder.storage, slot: child).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { encoder }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: Encoder_
        var codingPath: [any CodingKey] { encoder.codingPath }

        private func set(_ v: Value) { encoder.slot.value = v }

        mutating func encodeNil() throws { set(.null) }
        mutating func encode(_ value: Bool) throws { set(.bool(value)) }
        mutating func encode(_ value: String) throws { set(.string(value)) }
        mutating func encode(_ value: Double) throws { set(.double(value)) }
        mutating func encode(_ value: Float) throws { set(.double(Double(value))) }
        mutating func encode(_ value: Int) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { set(.int(value)) }
        mutating func encode(_ value: UInt) throws { set(try ValueEncoding.unsigned(UInt64(value), nil)) }
        mutating func encode(_ value: UInt8) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: UInt16) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: UInt32) throws { set(.int(Int64(value))) }
        mutating func encode(_ value: UInt64) throws { set(try ValueEncoding.unsigned(value, nil)) }
        mutating func encode<T: Encodable>(_ value: T) throws { set(try encoder.box(value, path: codingPath)) }
    }

    static func unsigned(_ v: UInt64, _ key: (any CodingKey)?) throws -> Value {
        guard v <= UInt64(Int64.max) else {
            throw DreamlakeError(.invalidValue, "\(v)\(key.map { " (at \"\($0.stringValue)\")" } ?? "") does not fit a 64-bit signed integer")
        }
        return .int(Int64(v))
    }
}

/// Each thread's reusable FlatEncoder (released when the thread ends).
private let flatEncoderKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { p in if let p { Unmanaged<ValueEncoding.FlatEncoder>.fromOpaque(p).release() } }
    return key
}()

// The fast way for the usual point: a struct of named fields. Fields go
// straight into two arrays (no container tree); a nested value goes through
// the general encoder above. A type that asks for anything but one keyed
// container at the top is encoded again the general way.
extension ValueEncoding {
    /// `value` as an object, or nil when it does not encode as one.
    static func encodeObject<T: Encodable>(_ value: T) throws(DreamlakeError) -> ValueObject? {
        let flat = FlatEncoder.take()
        defer { flat.giveBack() }
        do {
            try value.encode(to: flat)
        } catch let e as DreamlakeError {
            throw e
        } catch {
            throw DreamlakeError(.invalidValue, "\(T.self) could not be encoded: \(error)")
        }
        if !flat.isFlat {
            guard case .object(let o) = try encode(value) else { return nil }
            return o
        }
        let (keys, values) = flat.takeFields()
        // A type that encodes one key twice: a dictionary's rule, the last value in the first place.
        if keys.count > 8 || !ValueObject.keysAreUnique(keys) {
            var o = ValueObject(minimumCapacity: keys.count)
            for (k, v) in zip(keys, values) { o[k] = v }
            return o
        }
        return ValueObject(uncheckedUniqueKeys: keys, values: values)
    }

    final class FlatEncoder: Encoder {
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        private(set) var keys: [String] = []
        private(set) var values: [Value] = []
        /// False once the type asked for something other than one keyed container.
        var isFlat = true
        private var containers = 0
        private var inUse = false
        /// How many fields the last point had: the next one's arrays are made that large at once.
        private var lastCount = 4

        /// This thread's encoder, or a new one when it is busy (an `encode(to:)` that appends a point itself).
        /// Reusing it saves an allocation a point: the usual point costs what its dictionary form does.
        static func take() -> FlatEncoder {
            let encoder: FlatEncoder
            if let p = pthread_getspecific(flatEncoderKey) {
                encoder = Unmanaged<FlatEncoder>.fromOpaque(p).takeUnretainedValue()
                if encoder.inUse { return FlatEncoder().started() }
            } else {
                encoder = FlatEncoder()
                pthread_setspecific(flatEncoderKey, Unmanaged.passRetained(encoder).toOpaque())
            }
            return encoder.started()
        }

        private func started() -> FlatEncoder {
            inUse = true
            isFlat = true
            containers = 0
            keys.reserveCapacity(lastCount)
            values.reserveCapacity(lastCount)
            return self
        }

        /// The fields encoded, handed over (the encoder keeps none of them).
        /// The fields encoded; ``giveBack()`` empties the encoder afterwards.
        func takeFields() -> ([String], [Value]) {
            lastCount = max(1, keys.count)
            return (keys, values)
        }

        func giveBack() {
            keys = []
            values = []
            inUse = false
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            containers += 1
            if containers > 1 { isFlat = false }
            return KeyedEncodingContainer(FlatKeyed<Key>(encoder: self))
        }

        // Not an object of fields: the general encoder does it again; these only absorb the first try.
        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            isFlat = false
            return Encoder_(codingPath: []).unkeyedContainer()
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            isFlat = false
            return Encoder_(codingPath: []).singleValueContainer()
        }

        func add(_ v: Value, _ key: some CodingKey) {
            keys.append(key.stringValue)
            values.append(v)
        }
    }

    struct FlatKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: FlatEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { encoder.add(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { encoder.add(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { encoder.add(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { encoder.add(.double(value), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { encoder.add(.double(Double(value)), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { encoder.add(.int(value), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { encoder.add(try ValueEncoding.unsigned(UInt64(value), key), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { encoder.add(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { encoder.add(try ValueEncoding.unsigned(value, key), key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            encoder.add(try ValueEncoding.primitive(value) ?? ValueEncoding.encode(value), key)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            encoder.isFlat = false
            return Encoder_(codingPath: []).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.isFlat = false
            return Encoder_(codingPath: []).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder {
            encoder.isFlat = false
            return Encoder_(codingPath: [])
        }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            encoder.isFlat = false
            return Encoder_(codingPath: [])
        }
    }
}
