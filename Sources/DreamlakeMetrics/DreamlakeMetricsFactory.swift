import CoreMetrics
import Dreamlake
import DreamlakeStore
import Glibc

/// A swift-metrics backend that turns every metric into a track of a session.
///
/// ```swift
/// MetricsSystem.bootstrap(DreamlakeMetricsFactory(session: session))
/// Counter(label: "samples").increment(by: 32)
/// Timer(label: "step").recordNanoseconds(1_200_000)
/// ```
///
/// One track per label and dimensions: `label`, or `label{key=value,...}`
/// with the dimensions in the order given. Every recorded value appends a
/// point `{"value": ...}`, timestamped when it was recorded: counters and
/// floating-point counters record their running total, recorders and
/// gauges the value recorded, meters the value they hold after each change,
/// timers the duration in nanoseconds. The track's metadata names the kind of
/// metric, its label and its dimensions.
public struct DreamlakeMetricsFactory: MetricsFactory {
    /// The session the tracks belong to.
    public let session: Session
    private let onFailure: @Sendable (DreamlakeError) -> Void

    /// A factory writing into `session`.
    ///
    /// - Parameters:
    ///   - session: An open session.
    ///   - onFailure: Called when a value could not be appended (a metric
    ///     cannot throw). The default prints one line to standard error.
    public init(session: Session, onFailure: @escaping @Sendable (DreamlakeError) -> Void = DreamlakeMetricsFactory.printFailure) {
        self.session = session
        self.onFailure = onFailure
    }

    /// The default failure report: one line on standard error.
    public static let printFailure: @Sendable (DreamlakeError) -> Void = { error in
        let line = Array("DreamlakeMetricsFactory: a metric value was not written: \(error)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The track name of a metric: its label, then its dimensions in braces.
    public static func trackName(label: String, dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    private func sink(_ kind: String, _ label: String, _ dimensions: [(String, String)]) -> MetricTrack {
        var dims = ValueObject()
        for (k, v) in dimensions { dims[k] = .string(v) }
        let track = session.track(DreamlakeMetricsFactory.trackName(label: label, dimensions: dimensions),
                                  description: "swift-metrics \(kind) \(label)",
                                  metadata: ["kind": kind, "label": label, "dimensions": Value.object(dims)])
        return MetricTrack(track: track, onFailure: onFailure)
    }

    /// A counter: each increment appends the running total.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        CounterSink(sink("counter", label, dimensions))
    }

    /// A floating-point counter: each increment appends the running total.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        FloatingPointCounterSink(sink("floating-point counter", label, dimensions))
    }

    /// A recorder (a gauge when `aggregate` is false): each value recorded is appended.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        RecorderSink(sink(aggregate ? "recorder" : "gauge", label, dimensions))
    }

    /// A meter: each change appends the value it then holds.
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        MeterSink(sink("meter", label, dimensions))
    }

    /// A timer: each duration is appended in nanoseconds.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        TimerSink(sink("timer", label, dimensions))
    }

    // The tracks stay: what was recorded is kept after a metric is destroyed.
    /// Keeps the counter's track.
    public func destroyCounter(_ handler: any CounterHandler) {}
    /// Keeps the counter's track.
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    /// Keeps the recorder's track.
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    /// Keeps the meter's track.
    public func destroyMeter(_ handler: any MeterHandler) {}
    /// Keeps the timer's track.
    public func destroyTimer(_ handler: any TimerHandler) {}
}

/// Where one metric's values go.
struct MetricTrack: Sendable {
    let track: Track
    let onFailure: @Sendable (DreamlakeError) -> Void

    func append(_ value: Value) {
        do { try track.append(object: ["value": value]) } catch { onFailure(error) }
    }
}

final class CounterSink: CounterHandler {
    private let out: MetricTrack
    // The total and its append under one lock, so that totals reach the track in order.
    private let total = Locked<Int64>(0)
    init(_ out: MetricTrack) { self.out = out }
    func increment(by amount: Int64) {
        total.withLock { t in
            t = t.addingReportingOverflow(amount).overflow ? .max : t + amount
            out.append(.int(t))
        }
    }
    func reset() { total.withLock { t in t = 0; out.append(.int(0)) } }
}

final class FloatingPointCounterSink: FloatingPointCounterHandler {
    private let out: MetricTrack
    private let total = Locked<Double>(0)
    init(_ out: MetricTrack) { self.out = out }
    func increment(by amount: Double) { total.withLock { t in t += amount; out.append(.double(t)) } }
    func reset() { total.withLock { t in t = 0; out.append(.double(0)) } }
}

final class RecorderSink: RecorderHandler {
    private let out: MetricTrack
    init(_ out: MetricTrack) { self.out = out }
    func record(_ value: Int64) { out.append(.int(value)) }
    func record(_ value: Double) { out.append(.double(value)) }
}

final class MeterSink: MeterHandler {
    private let out: MetricTrack
    private let current = Locked<Double>(0)
    init(_ out: MetricTrack) { self.out = out }
    func set(_ value: Int64) { set(Double(value)) }
    func set(_ value: Double) { current.withLock { c in c = value; out.append(.double(c)) } }
    func increment(by amount: Double) { current.withLock { c in c += amount; out.append(.double(c)) } }
    func decrement(by amount: Double) { current.withLock { c in c -= amount; out.append(.double(c)) } }
}

final class TimerSink: TimerHandler {
    private let out: MetricTrack
    init(_ out: MetricTrack) { self.out = out }
    func recordNanoseconds(_ duration: Int64) { out.append(.int(duration)) }
}
