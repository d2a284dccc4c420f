import Dreamlake
import DreamlakeLogging
import DreamlakeMetrics
import DreamlakeTestSupport
import Foundation
import Logging
import Metrics
import Synchronization
import Testing


/// A handler that keeps what it is given, to check a multiplexed logger feeds both.
final class Captured: Sendable {
    let messages = Mutex<[String]>([])
}

struct CapturingHandler: LogHandler {
    let captured: Captured
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { captured.messages.withLock { $0.append(event.message.description) } }
}

@Suite struct LoggingTests {
    @Test func aLoggerWritesEveryLevelWithItsMetadataAndSource() throws {
        let root = TempRoot()
        defer { root.remove() }
        try Session.with(name: "logging", workspace: "ws", localPath: root.path) { session throws in
            var logger = Logger(label: "trainer") { DreamlakeLogHandler(label: $0, session: session) }
            logger.logLevel = .trace
            logger[metadataKey: "run"] = "7"
            logger.trace("t")
            logger.debug("d")
            logger.info("i", metadata: ["epoch": "3", "loss": .stringConvertible(0.25), "tags": ["a", "b"], "run": "8"])
            logger.notice("n")
            logger.warning("w")
            logger.error("e", metadata: ["detail": ["code": "42", "where": "io"]])
            logger.critical("c", source: "MyModule")
            let entries = try session.logs()
            #expect(entries.map(\.message) == ["t", "d", "i", "n", "w", "e", "c"])
            #expect(entries.map(\.level) == [.debug, .debug, .info, .info, .warn, .error, .fatal])
            #expect(entries[2].metadata == ["epoch": "3", "loss": "0.25", "run": "8", "tags": ["a", "b"],
                                            "source": "DreamlakeIntegrationTests", "label": "trainer"])
            #expect(entries[5].metadata?["detail"] == .object(["code": "42", "where": "io"]))
            #expect(entries[6].metadata?["source"] == "MyModule" && entries[6].metadata?["run"] == "7")
        }
    }

    @Test func aMultiplexedLoggerFeedsTheSessionAndTheOtherHandler() throws {
        let root = TempRoot()
        defer { root.remove() }
        let captured = Captured()
        try Session.with(name: "multiplex", workspace: "ws", localPath: root.path) { session throws in
            let logger = Logger(label: "both") { label in
                MultiplexLogHandler([DreamlakeLogHandler(label: label, session: session), CapturingHandler(captured: captured)])
            }
            var quieter = logger
            logger.info("to both")
            logger.trace("at the lowest level of its handlers")
            quieter.logLevel = .warning  // sets every handler's level
            quieter.info("filtered out")
            quieter.error("to both again")
            #expect(try session.logs().map(\.message) == ["to both", "at the lowest level of its handlers", "to both again"])
            #expect(captured.messages.withLock { $0 } == ["to both", "at the lowest level of its handlers", "to both again"])
        }
    }

    @Test func writesAfterCloseAreReportedNotLost() throws {
        let root = TempRoot()
        defer { root.remove() }
        let failures = Captured()
        let session = try Session(name: "closed", workspace: "ws", localPath: root.path)
        try session.open()
        let logger = Logger(label: "late") { DreamlakeLogHandler(label: $0, session: session, onFailure: { e in failures.messages.withLock { $0.append("\(e.code)") } }) }
        try session.close()
        logger.error("after close")
        #expect(failures.messages.withLock { $0.count } == 1)
    }
}

@Suite struct MetricsTests {
    @Test func everyKindOfMetricBecomesATrack() throws {
        let root = TempRoot()
        defer { root.remove() }
        try Session.with(name: "metrics", workspace: "ws", localPath: root.path) { session throws in
            let factory = DreamlakeMetricsFactory(session: session)
            let counter = Counter(label: "samples", dimensions: [("split", "train")], factory: factory)
            counter.increment(by: 32)
            counter.increment(by: 32)
            counter.reset()
            counter.increment()
            let fp = FloatingPointCounter(label: "energy", factory: factory)
            fp.increment(by: 0.5)
            fp.increment(by: 0.25)
            let recorder = Recorder(label: "loss", factory: factory)
            recorder.record(0.75)
            recorder.record(Int64(1))
            let gauge = Gauge(label: "lr", factory: factory)
            gauge.record(0.001)
            let meter = Meter(label: "queue", factory: factory)
            meter.set(5)
            meter.increment(by: 2)
            meter.decrement(by: 1)
            let timer = Metrics.Timer(label: "step", dimensions: [("device", "cpu")], factory: factory)
            timer.recordNanoseconds(1_200_000)
            timer.recordMilliseconds(3)

            func values(_ name: String) throws -> [Value] {
                try session.track(name).read(startIndex: 0, limit: 100).points.map { $0.data["value"] ?? .null }
            }
            #expect(try values("samples{split=train}") == [32, 64, 0, 1])
            #expect(try values("energy") == [0.5, 0.75])
            #expect(try values("loss") == [0.75, 1])
            #expect(try values("lr") == [0.001])
            #expect(try values("queue") == [5.0, 7.0, 6.0])
            #expect(try values("step{device=cpu}") == [1_200_000, 3_000_000])
            let stats = try session.track("step{device=cpu}").stats()
            #expect(stats.metadata?["kind"] == "timer" && stats.metadata?["dimensions"] == .object(["device": "cpu"]))
            #expect(try session.track("lr").stats().metadata?["kind"] == "gauge")
            // Points carry the time they were recorded, in order.
            let times = try session.track("samples{split=train}").read(startIndex: 0, limit: 10).points.map(\.timestamp)
            #expect(times == times.sorted())
        }
    }
}

/// The global entry points, once per process (a bootstrap cannot be undone).
@Suite struct BootstrapTests {
    @Test func loggingAndMetricsSystemsBootstrappedToASession() throws {
        let root = TempRoot()
        defer { root.remove() }
        try Session.with(name: "bootstrapped", workspace: "ws", localPath: root.path) { session throws in
            LoggingSystem.bootstrap { label in DreamlakeLogHandler(label: label, session: session) }
            MetricsSystem.bootstrap(DreamlakeMetricsFactory(session: session))
            Logger(label: "global").warning("through the global system")
            Counter(label: "global.counter").increment(by: 3)
            #expect(try session.logs().map(\.message) == ["through the global system"])
            #expect(try session.track("global.counter").read().points.map { $0.data["value"] } == [3])
        }
    }
}
