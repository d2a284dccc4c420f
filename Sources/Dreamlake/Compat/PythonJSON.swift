import DreamlakeStore

// JSON text exactly as Python's `json` module writes it, and a reader that
// keeps what Python's reader keeps (key order, int versus float, NaN and the
// infinities). Written by hand because the exported bytes must equal
// Python dreamlake's byte for byte, and no JSON library on this machine's
// package list writes Python's separators, `repr` floats and `\uXXXX` escapes,
// or reads objects in order.

/// Writes ``Value``s as Python's `json.dumps` (compact form) and
/// `json.dump(..., indent=2)` (indented form) write the same value.
package struct PythonJSONWriter {
    /// What has been written.
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// `json.dumps(value)`: separators `", "` and `": "`.
    mutating func compact(_ value: Value) {
        switch value {
        case .array(let a):
            guard !a.isEmpty else { return ascii("[]") }
            bytes.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")); bytes.append(UInt8(ascii: " ")) }
                compact(v)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            guard !o.isEmpty else { return ascii("{}") }
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (k, v) in o {
                if !first { bytes.append(UInt8(ascii: ",")); bytes.append(UInt8(ascii: " ")) }
                first = false
                string(k)
                bytes.append(UInt8(ascii: ":")); bytes.append(UInt8(ascii: " "))
                compact(v)
            }
            bytes.append(UInt8(ascii: "}"))
        default:
            scalar(value)
        }
    }

    /// `json.dump(value, f, indent=2)`: one member per line, separators `","` and `": "`, no final newline.
    mutating func indented(_ value: Value, level: Int = 0) {
        switch value {
        case .array(let a):
            guard !a.isEmpty else { return ascii("[]") }
            bytes.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(level + 1)
                indented(v, level: level + 1)
            }
            newline(level)
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            guard !o.isEmpty else { return ascii("{}") }
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (k, v) in o {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                newline(level + 1)
                string(k)
                bytes.append(UInt8(ascii: ":")); bytes.append(UInt8(ascii: " "))
                indented(v, level: level + 1)
            }
            newline(level)
            bytes.append(UInt8(ascii: "}"))
        default:
            scalar(value)
        }
    }

    private mutating func newline(_ level: Int) {
        bytes.append(UInt8(ascii: "\n"))
        for _ in 0..<(2 * level) { bytes.append(UInt8(ascii: " ")) }
    }

    private mutating func scalar(_ value: Value) {
        switch value {
        case .null: ascii("null")
        case .bool(let b): ascii(b ? "true" : "false")
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array, .object: compact(value)
        }
    }

    /// Appends ASCII text as it is.
    @inline(__always)
    mutating func ascii(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends already-encoded bytes.
    @inline(__always)
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// Python's `str(int)`.
    mutating func int(_ v: Int64) {
        if v >= 0 && v < 10 {
            bytes.append(UInt8(truncatingIfNeeded: v) &+ 48)
            return
        }
        var magnitude = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var i = 20
            while magnitude > 0 {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 48
                magnitude /= 10
            }
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i..<20]))
        }
    }

    /// Python's `float.__repr__`, with `NaN`, `Infinity` and `-Infinity` as `json` writes them.
    /// Swift's `description` gives the same shortest round-trip digits, and
    /// the same layout in most of the range (`0.0001`, `1e-05`, `1e+16`);
    /// but it turns to the exponent form from 2^53 on, where Python waits
    /// until 1e16. Between the two, the digits are written out in full.
    mutating func double(_ d: Double) {
        if d.isNaN { return ascii("NaN") }
        if d.isInfinite { return d < 0 ? ascii("-Infinity") : ascii("Infinity") }
        var s = d.description
        s.withUTF8 { text in
            let m = d.magnitude
            guard m >= 9_007_199_254_740_992, m < 1e16, let e = text.firstIndex(of: UInt8(ascii: "e")) else {
                bytes.append(contentsOf: text)
                return
            }
            // "-9.49892e+15" -> "-9498920000000000.0": the digits, then zeros up to 16 of them.
            var digitCount = 0
            for b in text[..<e] where b >= 48 && b <= 57 {
                bytes.append(b)
                digitCount += 1
            }
            if text[0] == UInt8(ascii: "-") { bytes.insert(UInt8(ascii: "-"), at: bytes.count - digitCount) }
            for _ in digitCount..<16 { bytes.append(UInt8(ascii: "0")) }
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(ascii: "0"))
        }
    }

    /// A string as `json.dumps` writes it with `ensure_ascii=True`: `"` and
    /// `\` escaped, `\b \f \n \r \t` in short form, every other character
    /// outside space ... `~` as `\uXXXX` (lowercase hex, surrogate pairs above U+FFFF).
    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        let plain = s.withUTF8 { utf8 -> Bool in
            for b in utf8 where b < 0x20 || b > 0x7E || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if !plain {
            for u in s.unicodeScalars { scalarEscaped(u) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func scalarEscaped(_ u: Unicode.Scalar) {
        switch u.value {
        case 0x22: ascii("\\\"")
        case 0x5C: ascii("\\\\")
        case 0x08: ascii("\\b")
        case 0x0C: ascii("\\f")
        case 0x0A: ascii("\\n")
        case 0x0D: ascii("\\r")
        case 0x09: ascii("\\t")
        case 0x20...0x7E: bytes.append(UInt8(u.value))
        case 0x10000...:
            let v = u.value - 0x10000
            hex4(0xD800 | (v >> 10))
            hex4(0xDC00 | (v & 0x3FF))
        default: hex4(u.value)
        }
    }

    private mutating func hex4(_ v: UInt32) {
        let digits: StaticString = "0123456789abcdef"
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "u"))
        digits.withUTF8Buffer { d in
            for shift in stride(from: 12, through: 0, by: -4) { bytes.append(d[Int((v >> UInt32(shift)) & 0xF)]) }
        }
    }
}

extension PythonJSONWriter {
    /// `json.dumps(value)` as bytes.
    package static func compactBytes(_ value: Value) -> [UInt8] {
        var w = PythonJSONWriter()
        w.compact(value)
        return w.bytes
    }

    /// `json.dump(value, f, indent=2)` as bytes.
    package static func indentedBytes(_ value: Value) -> [UInt8] {
        var w = PythonJSONWriter()
        w.indented(value)
        return w.bytes
    }
}

/// Why JSON text could not be read, and where (a byte offset within the text).
package struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    var message: String
    var offset: Int
    package var description: String { "\(message) at byte \(offset)" }
}

/// Reads JSON text as Python's `json.loads` does: objects keep their key
/// order (a repeated key keeps its first place and last value), numbers
/// without a fraction or exponent are integers, `NaN`, `Infinity` and
/// `-Infinity` are accepted. Integers beyond 64 bits, lone surrogates and
/// nesting deeper than ``maxDepth`` are refused, since they cannot be stored.
package struct PythonJSONReader {
    /// The deepest nesting read, as deep as the store keeps.
    static let maxDepth = 64

    /// The value in `text`, which must hold exactly one (with whitespace around it).
    package static func parse(_ text: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> Value {
        var r = PythonJSONReader(text: text)
        r.skipSpace()
        let v = try r.value(depth: 0)
        r.skipSpace()
        guard r.pos == text.count else { throw r.fail("extra text after the JSON value") }
        return v
    }

    /// The value in `bytes`.
    package static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> Value {
        let result: Result<Value, JSONSyntaxError> = bytes.withUnsafeBytes { b in
            do throws(JSONSyntaxError) { return .success(try parse(b)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private let text: UnsafeRawBufferPointer
    private var pos = 0

    private init(text: UnsafeRawBufferPointer) { self.text = text }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: pos) }

    @inline(__always) private var atEnd: Bool { pos >= text.count }
    @inline(__always) private func peek() -> UInt8 { pos < text.count ? text[pos] : 0 }

    private mutating func skipSpace() {
        while pos < text.count {
            switch text[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard pos + n <= text.count else { return false }
        let ok = literal.withUTF8Buffer { lit in (0..<n).allSatisfy { text[pos + $0] == lit[$0] } }
        if ok { pos += n }
        return ok
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> Value {
        guard !atEnd else { throw fail("the text ends where a value should be") }
        switch peek() {
        case UInt8(ascii: "{"):
            guard depth < PythonJSONReader.maxDepth else { throw fail("nesting deeper than \(PythonJSONReader.maxDepth) levels") }
            pos += 1
            // Keys and values are gathered first and the object built once:
            // cheaper than growing an ordered dictionary key by key.
            var keys: [String] = []
            var values: [Value] = []
            keys.reserveCapacity(4)
            values.reserveCapacity(4)
            skipSpace()
            if peek() == UInt8(ascii: "}") { pos += 1; return .object([:]) }
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes") }
                keys.append(try string())
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                pos += 1
                skipSpace()
                values.append(try value(depth: depth + 1))
                skipSpace()
                switch peek() {
                case UInt8(ascii: ","): pos += 1
                case UInt8(ascii: "}"):
                    pos += 1
                    return .object(Self.object(keys, values))
                default: throw fail("expected ',' or '}' in an object")
                }
            }
        case UInt8(ascii: "["):
            guard depth < PythonJSONReader.maxDepth else { throw fail("nesting deeper than \(PythonJSONReader.maxDepth) levels") }
            pos += 1
            var a: [Value] = []
            skipSpace()
            if peek() == UInt8(ascii: "]") { pos += 1; return .array(a) }
            while true {
                skipSpace()
                a.append(try value(depth: depth + 1))
                skipSpace()
                switch peek() {
                case UInt8(ascii: ","): pos += 1
                case UInt8(ascii: "]"): pos += 1; return .array(a)
                default: throw fail("expected ',' or ']' in an array")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            if expect("true") { return .bool(true) }
        case UInt8(ascii: "f"):
            if expect("false") { return .bool(false) }
        case UInt8(ascii: "n"):
            if expect("null") { return .null }
        case UInt8(ascii: "N"):
            if expect("NaN") { return .double(.nan) }
        case UInt8(ascii: "I"):
            if expect("Infinity") { return .double(.infinity) }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if peek() == UInt8(ascii: "-"), pos + 1 < text.count, text[pos + 1] == UInt8(ascii: "I") {
                pos += 1
                if expect("Infinity") { return .double(-.infinity) }
                pos -= 1
                break
            }
            return try number()
        default:
            break
        }
        throw fail("unexpected character \(Self.show(peek()))")
    }

    /// An object from its keys and values in order; a repeated key keeps its
    /// first place and its last value, as in Python's dict.
    private static func object(_ keys: [String], _ values: [Value]) -> ValueObject {
        var unique = true
        if keys.count <= 16 {
            outer: for i in 1..<max(1, keys.count) {
                for j in 0..<i where keys[i] == keys[j] {
                    unique = false
                    break outer
                }
            }
        } else {
            unique = Set(keys).count == keys.count
        }
        if unique { return ValueObject(uncheckedUniqueKeys: keys, values: values) }
        var o = ValueObject()
        for (k, v) in zip(keys, values) { o[k] = v }
        return o
    }

    /// A string from bytes known to be valid UTF-8 or not yet checked.
    @inline(__always)
    private static func makeString(_ bytes: UnsafeRawBufferPointer, ascii: Bool) -> String? {
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        if ascii { return String(decoding: typed, as: UTF8.self) }
        return String(validating: typed, as: UTF8.self)
    }

    private static func show(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + String(b, radix: 16)
    }

    private mutating func number() throws(JSONSyntaxError) -> Value {
        let start = pos
        if peek() == UInt8(ascii: "-") { pos += 1 }
        func digits(_ r: inout PythonJSONReader) -> Int {
            let s = r.pos
            while r.pos < r.text.count, r.text[r.pos] >= 0x30, r.text[r.pos] <= 0x39 { r.pos += 1 }
            return r.pos - s
        }
        let intStart = pos
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw fail("a number needs digits") }
        guard !(intDigits > 1 && text[intStart] == UInt8(ascii: "0")) else { throw fail("a number cannot start with 0") }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw fail("a fraction needs digits") }
            isInteger = false
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            pos += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw fail("an exponent needs digits") }
            isInteger = false
        }
        let slice = UnsafeRawBufferPointer(rebasing: text[start..<pos])
        if isInteger {
            var magnitude: UInt64 = 0
            for b in slice where b != UInt8(ascii: "-") {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(b - 48))
                guard !o1, !o2 else { pos = start; throw fail("the integer \(String(decoding: slice, as: UTF8.self)) does not fit in 64 bits") }
                magnitude = m2
            }
            if slice.first == UInt8(ascii: "-") {
                guard magnitude <= UInt64(Int64.max) + 1 else {
                    pos = start
                    throw fail("the integer \(String(decoding: slice, as: UTF8.self)) does not fit in 64 bits")
                }
                return .int(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
            }
            guard magnitude <= UInt64(Int64.max) else {
                pos = start
                throw fail("the integer \(String(decoding: slice, as: UTF8.self)) does not fit in 64 bits")
            }
            return .int(Int64(magnitude))
        }
        // The standard library's parser rounds correctly, as Python's does.
        guard let d = Double(String(decoding: slice, as: UTF8.self)) else {
            pos = start
            throw fail("\(String(decoding: slice, as: UTF8.self)) is not a number")
        }
        return .double(d)
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        pos += 1  // the opening quote
        let start = pos
        // The plain case: no escapes, so the bytes are the string.
        var ascii = true
        while pos < text.count {
            let b = text[pos]
            if b == UInt8(ascii: "\"") {
                guard let s = Self.makeString(UnsafeRawBufferPointer(rebasing: text[start..<pos]), ascii: ascii) else {
                    pos = start
                    throw fail("a string is not valid UTF-8")
                }
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            if b >= 0x80 { ascii = false }
            pos += 1
        }
        var scalars = String.UnicodeScalarView()
        guard let prefix = Self.makeString(UnsafeRawBufferPointer(rebasing: text[start..<pos]), ascii: false) else {
            pos = start
            throw fail("a string is not valid UTF-8")
        }
        scalars.append(contentsOf: prefix.unicodeScalars)
        var runStart = pos
        func flushRun(_ r: inout PythonJSONReader, _ scalars: inout String.UnicodeScalarView) throws(JSONSyntaxError) {
            guard runStart < r.pos else { return }
            guard let run = Self.makeString(UnsafeRawBufferPointer(rebasing: r.text[runStart..<r.pos]), ascii: false) else {
                throw r.fail("a string is not valid UTF-8")
            }
            scalars.append(contentsOf: run.unicodeScalars)
        }
        while true {
            guard pos < text.count else { throw fail("a string is not closed") }
            let b = text[pos]
            if b == UInt8(ascii: "\"") {
                try flushRun(&self, &scalars)
                pos += 1
                return String(scalars)
            }
            if b < 0x20 { throw fail("a control character (\(Self.show(b))) inside a string must be escaped") }
            if b != UInt8(ascii: "\\") { pos += 1; continue }
            try flushRun(&self, &scalars)
            pos += 1
            guard pos < text.count else { throw fail("a string is not closed") }
            let e = text[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let hi = try hex4()
                var code = hi
                if hi >= 0xD800 && hi < 0xDC00 {
                    guard expect("\\u") else { throw fail("a lone surrogate \\u\(String(hi, radix: 16)) cannot be stored") }
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("a lone surrogate \\u\(String(hi, radix: 16)) cannot be stored") }
                    code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if hi >= 0xDC00 && hi < 0xE000 {
                    throw fail("a lone surrogate \\u\(String(hi, radix: 16)) cannot be stored")
                }
                guard let u = Unicode.Scalar(code) else { throw fail("\\u\(String(code, radix: 16)) is not a character") }
                scalars.append(u)
            default:
                pos -= 1
                throw fail("unknown escape \\\(Self.show(e))")
            }
            runStart = pos
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard pos + 4 <= text.count else { throw fail("\\u needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = text[pos]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x61...0x66: d = b - 0x61 + 10
            case 0x41...0x46: d = b - 0x41 + 10
            default: throw fail("\\u needs four hex digits")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }
}
