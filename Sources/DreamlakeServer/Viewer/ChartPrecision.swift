import DreamlakeStore
import Foundation

/// The values of an envelope as a chart needs them (`precision=chart`): each rounded to the shortest
/// decimal within 1/65,536 of the envelope's span or of its own size, whichever is less.
///
/// A chart places a value on a line of at most a few thousand pixels, so a digit past that is never
/// seen, yet it is most of what an envelope weighs: a 17-digit double is about 19 bytes of JSON and
/// gzip barely shrinks its last digits. Rounded, the 10-run comparison page sends under half the bytes.
/// What is drawn stays exact to well under a pixel:
/// - on a linear axis, within 1/65,536 of the span: a thirtieth of a pixel on a chart 2,000 pixels tall.
///   The span is the middle 98% of the buckets' extremes (what "ignore outliers" shows), or all of them,
///   whichever is less, so a spike does not coarsen the rest; a zoom fetches the envelope of its range,
///   whose span is smaller, so its values keep more digits;
/// - on a log axis, within 1/65,536 of the value itself;
/// - NaN, the infinities, zero and each bucket's extremes (which point, at which index) are unchanged:
///   only digits go.
/// The page's readouts (the tooltip, `/api/nearest`) and its CSV download ask for exact values.
enum ChartPrecision {
    /// The largest error, as a fraction of the span or of the value.
    static let fraction = 0x1p-16

    /// `buckets` with every value of a point rounded as above.
    static func rounded(_ buckets: [EnvelopeBucket]) -> [EnvelopeBucket] {
        let span = span(of: buckets)
        func round(_ p: EnvelopePoint?) -> EnvelopePoint? {
            guard var p else { return nil }
            p.value = shortest(p.value, within: fraction * min(abs(p.value), span))
            return p
        }
        return buckets.map { b in
            var b = b
            b.first = round(b.first)
            b.last = round(b.last)
            b.min = round(b.min)
            b.max = round(b.max)
            return b
        }
    }

    /// The span of the buckets' finite extremes: of their middle 98% when there are 50 or more (as the
    /// page's "ignore outliers" takes them), else of all. Never negative; infinite values are left out.
    static func span(of buckets: [EnvelopeBucket]) -> Double {
        var values: [Double] = []
        values.reserveCapacity(buckets.count * 2)
        for b in buckets {
            for p in [b.min, b.max] { if let v = p?.value, v.isFinite { values.append(v) } }
        }
        guard let lo = values.min(), let hi = values.max() else { return 0 }
        var span = hi - lo  // may overflow to +infinity (-max ... max): then the middle's or the values' own size decides
        if values.count >= 50 {
            values.sort()
            let middle = values[Int((Double(values.count) * 0.99).rounded(.up)) - 1] - values[Int(Double(values.count) * 0.01)]
            span = min(span, middle)
        }
        return span.isNaN ? 0 : span
    }

    /// Powers of ten that are exact doubles: 10^0 to 10^22.
    private static let powersOfTen: [Double] = {
        var out: [Double] = [1]
        for _ in 1...22 { out.append(out[out.count - 1] * 10) }
        return out
    }()

    /// The double nearest the decimal with the fewest significant digits within `tolerance` of `value`
    /// (so its shortest printed form is that decimal); `value` itself when it is not finite, is zero, the
    /// tolerance is not positive, or no such decimal has at most 16 digits and an exponent within ±22.
    static func shortest(_ value: Double, within tolerance: Double) -> Double {
        guard value.isFinite, value != 0, tolerance > 0, tolerance.isFinite else { return value }
        // Rounding to a multiple of 10^k errs by at most 10^k / 2: the coarsest k that may do, then finer ones.
        let coarsest = Int(log10(2 * tolerance).rounded(.down))
        for k in stride(from: coarsest + 1, through: coarsest - 1, by: -1) {
            guard abs(k) <= 22 else { continue }
            let step = powersOfTen[abs(k)]
            let scaled = k >= 0 ? value / step : value * step
            guard abs(scaled) < 0x1p53 else { return value }  // all its digits are needed
            let m = scaled.rounded()
            // m and 10^|k| are exact, so one correctly rounded operation gives the double nearest m × 10^k.
            let r = k >= 0 ? m * step : m / step
            if r.isFinite, abs(r - value) <= tolerance { return r == 0 ? value : r }
        }
        return value
    }
}
