import Foundation

/// Timestamps as Python dreamlake writes them: `datetime.utcnow().isoformat() + "Z"`,
/// that is `2026-11-25T11:17:49.610107Z`, with no fraction at all when the
/// microseconds are exactly 0 (`2026-11-25T11:17:49Z`).
package enum Timestamps {
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerDay: Int64 = 86_400 * microsPerSecond

    /// Now, in microseconds since the Unix epoch: the store's clock, so that a
    /// record's timestamp and its ISO text agree.
    static func nowMicros() -> Int64 { WallClock.nowMicros() }

    /// Now, as Python dreamlake writes it.
    static func isoNow() -> String { iso(micros: nowMicros()) }

    /// `micros` (since the Unix epoch, UTC) as Python dreamlake writes it.
    package static func iso(micros: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        appendISO(micros: micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func date(micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    /// Appends the ISO form of `micros` to `out`. Years outside 0...9999 are
    /// written with as many digits as they need (Python cannot hold them at all).
    static func appendISO(micros: Int64, to out: inout [UInt8]) {
        let (days, inDay) = floorDivide(micros, microsPerDay)
        let (y, m, d) = civil(fromDays: days)
        appendDate(y, m, d, to: &out)
        appendTime(microsInDay: inDay, to: &out)
    }

    static func appendDate(_ y: Int64, _ m: Int64, _ d: Int64, to out: inout [UInt8]) {
        if y < 0 { out.append(UInt8(ascii: "-")) }
        let ay = y.magnitude
        if ay >= 10_000 { out.append(contentsOf: String(ay).utf8) } else { digits(Int64(ay), 4, &out) }
        out.append(UInt8(ascii: "-"))
        digits(m, 2, &out)
        out.append(UInt8(ascii: "-"))
        digits(d, 2, &out)
        out.append(UInt8(ascii: "T"))
    }

    static func appendTime(microsInDay: Int64, to out: inout [UInt8]) {
        let seconds = microsInDay / microsPerSecond
        let fraction = microsInDay % microsPerSecond
        digits(seconds / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        digits(seconds % 60, 2, &out)
        if fraction != 0 {
            out.append(UInt8(ascii: "."))
            digits(fraction, 6, &out)
        }
        out.append(UInt8(ascii: "Z"))
    }

    @inline(__always)
    static func digits(_ v: Int64, _ n: Int, _ out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<n { divisor *= 10 }
        var v = v
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: v / divisor) &+ 48)
            v %= divisor
            divisor /= 10
        }
    }

    /// Quotient rounded down and the remainder in 0..<b (b > 1), for every
    /// `a` from Int64.min up: neither step can overflow.
    static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let (q, r) = a.quotientAndRemainder(dividingBy: b)
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Year, month, day of a count of days since 1970-01-01 (the proleptic
    /// Gregorian calendar; the algorithm of Howard Hinnant's `civil_from_days`).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Days since 1970-01-01 of a date (the inverse of ``civil(fromDays:)``).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The microseconds of a timestamp in exactly the form Python dreamlake
    /// writes (four-digit year, six fraction digits unless they would all be
    /// 0, a final `Z`), or nil for anything else: a timestamp in another form
    /// would not be written back the same.
    static func parse<C: Collection<UInt8>>(_ text: C) -> Int64? where C.Index == Int {
        let b = text
        let s = b.startIndex
        guard b.count == 20 || b.count == 27 else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + n) {
                let c = b[s + i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        func at(_ i: Int, _ c: Unicode.Scalar) -> Bool { b[s + i] == UInt8(ascii: c) }
        guard at(4, "-"), at(7, "-"), at(10, "T"), at(13, ":"), at(16, ":"), at(b.count - 1, "Z"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              let h = num(11, 2), let mi = num(14, 2), let sec = num(17, 2),
              isDate(y, mo, d), h < 24, mi < 60, sec < 60 else { return nil }
        var fraction: Int64 = 0
        if b.count == 27 {
            guard at(19, "."), let f = num(20, 6), f != 0 else { return nil }
            fraction = f
        }
        return micros(y, mo, d, h, mi, sec, fraction)
    }

    /// Whether year `y`, month `mo`, day `d` is a date of the proleptic Gregorian calendar.
    static func isDate(_ y: Int64, _ mo: Int64, _ d: Int64) -> Bool {
        let monthDays: [Int64] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        return (1...12).contains(mo) && d >= 1 && d <= monthDays[Int(mo - 1)] + (mo == 2 && leap ? 1 : 0)
    }

    /// Microseconds since the Unix epoch of a date and time in UTC (years of four digits: no overflow).
    static func micros(_ y: Int64, _ mo: Int64, _ d: Int64, _ h: Int64, _ mi: Int64, _ sec: Int64, _ fraction: Int64) -> Int64 {
        Timestamps.days(fromCivil: y, mo, d) * microsPerDay + ((h * 60 + mi) * 60 + sec) * microsPerSecond + fraction
    }

    /// ``parse(_:)`` of a string.
    package static func parse(_ s: String) -> Int64? { parse(Array(s.utf8)) }

    /// The microseconds of any ISO 8601 (RFC 3339) date and time that names its zone, as other
    /// tools write them: `YYYY-MM-DD`, `T` (or `t`, or a space), `hh:mm:ss`, a fraction of any
    /// number of digits (kept to the microsecond, rounded down), then `Z` (or `z`) or an offset
    /// `±hh:mm` (or `±hhmm`, `±hh`), which is taken away to give UTC. Nil for anything else: a
    /// time without a zone names no instant.
    package static func parseISO8601(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20 else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            guard from + n <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + n) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let sec = num(17, 2),
              isDate(y, mo, d), h < 24, mi < 60, sec < 60 else { return nil }
        var at = 19
        var fraction: Int64 = 0
        if b[at] == UInt8(ascii: ".") || b[at] == UInt8(ascii: ",") {
            at += 1
            let start = at
            while at < b.count, b[at] >= 48 && b[at] <= 57 {
                if at - start < 6 { fraction = fraction * 10 + Int64(b[at] - 48) }
                at += 1
            }
            guard at > start else { return nil }
            for _ in min(6, at - start)..<6 { fraction *= 10 }
        }
        guard at < b.count else { return nil }
        var offset: Int64 = 0
        switch b[at] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard at + 1 == b.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[at] == UInt8(ascii: "+") ? 1 : -1
            let rest = b.count - at - 1
            guard let oh = num(at + 1, 2), oh < 24 else { return nil }
            var om: Int64 = 0
            switch rest {
            case 2: break
            case 4: guard let m = num(at + 3, 2), m < 60 else { return nil }; om = m
            case 5: guard b[at + 3] == UInt8(ascii: ":"), let m = num(at + 4, 2), m < 60 else { return nil }; om = m
            default: return nil
            }
            offset = sign * (oh * 60 + om) * 60 * microsPerSecond
        default:
            return nil
        }
        return micros(y, mo, d, h, mi, sec, fraction) - offset
    }
}
