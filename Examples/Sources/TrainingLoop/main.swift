// A training loop in plain Swift: fits y = 3x - 1 by gradient descent on
// noisy samples, and records everything in a Dreamlake session: its
// configuration as parameters, its progress through swift-log, its
// throughput through swift-metrics, and its loss curve as a track. Then it
// reads the curve back, as a plotting tool would.
import Dreamlake
import DreamlakeLogging
import DreamlakeMetrics
import Foundation
import Logging
import Metrics

struct Config: Codable, Equatable {
    var epochs = 20
    var batchSize = 32
    var learningRate = 0.05
    var samples = 2048
}

struct LossPoint: Codable {
    var value: Double
    var step: Int
    var epoch: Int
}

let config = Config()
let session = try Session(name: "linear-fit", workspace: "examples", localPath: "./.dreamlake-examples",
                          description: "fit y = 3x - 1", tags: ["example"])
try session.open()
LoggingSystem.bootstrap { label in DreamlakeLogHandler(label: label, session: session) }
MetricsSystem.bootstrap(DreamlakeMetricsFactory(session: session))
let logger = Logger(label: "trainer")
let seen = Counter(label: "samples_seen")
let stepTime = Metrics.Timer(label: "step_time")

try session.parameters.set(config)
logger.info("training started", metadata: ["epochs": "\(config.epochs)"])

// Deterministic noisy samples of y = 3x - 1.
struct Random {
    var state: UInt64 = 42
    mutating func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
}
var random = Random()
var xs: [Double] = [], ys: [Double] = []
for _ in 0..<config.samples {
    let x = random.uniform() * 2 - 1
    xs.append(x)
    ys.append(3 * x - 1 + (random.uniform() - 0.5) * 0.1)
}

var w = 0.0, b = 0.0
let loss = session.track("train/loss", description: "mean squared error per batch")
var step = 0
for epoch in 0..<config.epochs {
    var epochLoss = 0.0
    for start in stride(from: 0, to: config.samples, by: config.batchSize) {
        let began = ContinuousClock.now
        let batch = start..<min(start + config.batchSize, config.samples)
        var gw = 0.0, gb = 0.0, l = 0.0
        for i in batch {
            let err = w * xs[i] + b - ys[i]
            l += err * err
            gw += 2 * err * xs[i]
            gb += 2 * err
        }
        let n = Double(batch.count)
        w -= config.learningRate * gw / n
        b -= config.learningRate * gb / n
        try loss.append(LossPoint(value: l / n, step: step, epoch: epoch))
        seen.increment(by: batch.count)
        stepTime.recordNanoseconds(Int64((ContinuousClock.now - began) / .nanoseconds(1)))
        epochLoss += l
        step += 1
    }
    logger.info("epoch done", metadata: ["epoch": "\(epoch)", "loss": "\(epochLoss / Double(config.samples))"])
}
logger.notice("training finished", metadata: ["w": "\(w)", "b": "\(b)"])
try session.flush()

// Read it back: the curve falls, the fit is close, the config round-trips.
let curve = try loss.read(as: LossPoint.self, startIndex: 0, limit: 100_000)
let first = curve.first?.value ?? .nan, last = curve.last?.value ?? .nan
print("\(curve.count) loss points, from \(String(format: "%.4f", first)) to \(String(format: "%.6f", last))")
print("fit: w = \(String(format: "%.3f", w)), b = \(String(format: "%.3f", b))")
print("log entries: \(try session.logs().count); samples seen: \(try session.track("samples_seen").stats().count) counter points")
guard try session.parameters.get(as: Config.self) == config, last < first / 10, abs(w - 3) < 0.05, abs(b + 1) < 0.05 else {
    print("the example did not train as expected")
    exit(1)
}
try session.close()
