import OrderedCollections

/// A JSON-like value: what log metadata, track points, parameters and
/// metadata are made of.
///
/// Objects keep their key order. `.int(1)` and `.double(1.0)` are different
/// values, and every double (including -0.0, NaN with its payload, and the
/// infinities) is stored and compared by its exact bit pattern: two values are
/// equal when they would be written as the same bytes.
public enum Value: Sendable {
    /// JSON's null.
    case null
    /// A boolean.
    case bool(Bool)
    /// A 64-bit signed integer (never silently turned into a double).
    case int(Int64)
    /// A binary64 double, any bit pattern.
    case double(Double)
    /// A string.
    case string(String)
    /// An array of values.
    case array([Value])
    /// An object whose keys keep their order.
    case object(ValueObject)
}

/// A JSON-like object whose keys keep the order they were inserted in.
public typealias ValueObject = OrderedDictionary<String, Value>

extension Value: Equatable {
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            // Order matters: the same keys in another order are another value.
            return a.count == b.count && zip(a, b).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value }
        default: return false
        }
    }
}

extension Value: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .int(let i): hasher.combine(2); hasher.combine(i)
        case .double(let d): hasher.combine(3); hasher.combine(d.bitPattern)
        case .string(let s): hasher.combine(4); hasher.combine(s.utf8.count); for b in s.utf8 { hasher.combine(b) }
        case .array(let a): hasher.combine(5); hasher.combine(a)
        case .object(let o):
            hasher.combine(6)
            for (k, v) in o { hasher.combine(k.utf8.count); for b in k.utf8 { hasher.combine(b) }; hasher.combine(v) }
        }
    }
}

extension Value {
    /// The object this value holds, or nil.
    public var objectValue: ValueObject? { if case .object(let o) = self { o } else { nil } }
    /// The string this value holds, or nil.
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    /// The integer this value holds, or nil (a double is not converted).
    public var intValue: Int64? { if case .int(let i) = self { i } else { nil } }
    /// The number this value holds as a double: a double as it is, an integer converted.
    public var doubleValue: Double? {
        switch self {
        case .double(let d): d
        case .int(let i): Double(i)
        default: nil
        }
    }
    /// The boolean this value holds, or nil.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// The array this value holds, or nil.
    public var arrayValue: [Value]? { if case .array(let a) = self { a } else { nil } }
    /// Whether this value is `.null`.
    public var isNull: Bool { if case .null = self { true } else { false } }
}

extension Value: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}
extension Value: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
extension Value: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}
extension Value: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}
extension Value: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}
extension Value: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
}
extension Value: ExpressibleByDictionaryLiteral {
    /// Builds an object in the literal's key order; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, Value)...) {
        var o = ValueObject()
        o.reserveCapacity(elements.count)
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

/// A Swift value that has a ``Value`` form, so that points and metadata can be
/// written as literals with variables in them: `["value": loss, "step": step]`.
public protocol ValueConvertible {
    /// This value as a ``Value``.
    ///
    /// A log entry's metadata is converted while the store holds its log's
    /// lock (so that the entry is encoded without a copy): a conformance must
    /// not write to the same store.
    var dreamlakeValue: Value { get }
}

extension Value: ValueConvertible { public var dreamlakeValue: Value { self } }
extension Bool: ValueConvertible { public var dreamlakeValue: Value { .bool(self) } }
extension String: ValueConvertible { public var dreamlakeValue: Value { .string(self) } }
extension Substring: ValueConvertible { public var dreamlakeValue: Value { .string(String(self)) } }
extension Double: ValueConvertible { public var dreamlakeValue: Value { .double(self) } }
extension Float: ValueConvertible { public var dreamlakeValue: Value { .double(Double(self)) } }
extension Int: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension Int64: ValueConvertible { public var dreamlakeValue: Value { .int(self) } }
extension Int32: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension Int16: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension Int8: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension UInt32: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension UInt16: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension UInt8: ValueConvertible { public var dreamlakeValue: Value { .int(Int64(self)) } }
extension Optional: ValueConvertible where Wrapped: ValueConvertible {
    public var dreamlakeValue: Value { self?.dreamlakeValue ?? .null }
}
extension Array: ValueConvertible where Element: ValueConvertible {
    public var dreamlakeValue: Value { .array(map(\.dreamlakeValue)) }
}
extension OrderedDictionary: ValueConvertible where Key == String, Value: ValueConvertible {
    public var dreamlakeValue: DreamlakeStore.Value { .object(mapValues(\.dreamlakeValue)) }
}
extension Dictionary: ValueConvertible where Key == String, Value == any ValueConvertible {
    /// A Swift dictionary has no order; its keys are sorted so the result is
    /// stable. (Its values are `any ValueConvertible` so that nested literals
    /// such as `["model": ["layers": 4, "act": "relu"]]` type-check; use
    /// `KeyValuePairs` or ``ValueObject`` to keep an order.)
    public var dreamlakeValue: DreamlakeStore.Value {
        var o = ValueObject()
        for k in keys.sorted() { o[k] = self[k]?.dreamlakeValue }
        return .object(o)
    }
}
extension KeyValuePairs: ValueConvertible where Key == String, Value == any ValueConvertible {
    /// An object in the pairs' order; a repeated key keeps its first place and its last value.
    public var dreamlakeValue: DreamlakeStore.Value { .object(ValueObject(pairs: self)) }
}

extension OrderedDictionary where Key == String, Value == DreamlakeStore.Value {
    /// An object of literal pairs, in their order; a key given twice keeps
    /// its first place and its last value, as a dictionary would.
    public init(pairs: KeyValuePairs<String, any ValueConvertible>) {
        let n = pairs.count
        // The usual literal has a few distinct keys: build the object in one
        // go (no hashing per insert) once a quadratic look shows no key twice.
        if n <= 8, Self.keysAreUnique(pairs.lazy.map(\.key)) {
            var keys: [String] = []
            var values: [DreamlakeStore.Value] = []
            keys.reserveCapacity(n)
            values.reserveCapacity(n)
            for (k, v) in pairs {
                keys.append(k)
                values.append(v.dreamlakeValue)
            }
            self.init(uncheckedUniqueKeys: keys, values: values)
            return
        }
        self.init(minimumCapacity: n)
        for (k, v) in pairs { self[k] = v.dreamlakeValue }
    }

    /// Whether no key appears twice: a quadratic look, meant for the few keys of a literal or a flat point.
    @inlinable
    public static func keysAreUnique<Keys: Collection<String>>(_ keys: Keys) -> Bool {
        var i = keys.startIndex
        while i != keys.endIndex {
            var j = keys.startIndex
            while j != i {
                if keys[j] == keys[i] { return false }
                keys.formIndex(after: &j)
            }
            keys.formIndex(after: &i)
        }
        return true
    }
}

extension Value: CustomStringConvertible {
    /// JSON-like text, for people: `{"value": 0.5, "step": 3}`. Not an export
    /// format (non-finite doubles print as `NaN`, `Infinity`, `-Infinity`).
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return d.description
        case .string(let s): return Value.quoted(s)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { Value.quoted($0.key) + ": " + $0.value.description }.joined(separator: ", ") + "}"
        }
    }

    /// `s` as a JSON string: quotes, backslashes and control characters escaped, the rest as it is.
    package static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
