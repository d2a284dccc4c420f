import ArgumentParser
import Dreamlake
@_spi(Reference) import DreamlakeStore
import Foundation

/// Runs a short simulated training session through the session API and shows what was stored.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a simulated training run as a session and show what was stored.")

    @Option(help: "The folder sessions live under (default: $DREAMLAKE_PATH, else ./.dreamlake).")
    var root: String?

    @Option(help: "Training steps to simulate (points of the train_loss track).")
    var points: Int = 100_000

    func validate() throws {
        guard points > 0 else { throw ValidationError("--points must be positive") }
    }

    func run() throws {
        do {
            try demo()
        } catch let e as DreamlakeError {
            throw ValidationError(e.message)  // one line, no stack trace
        }
    }

    private func demo() throws {
        let root = self.root ?? ProcessInfo.processInfo.environment["DREAMLAKE_PATH"] ?? "./.dreamlake"
        let session = try Session(name: "demo-run", workspace: "demo", localPath: root,
                                  description: "a simulated training run", tags: ["demo"], folder: "/demos")
        // A fresh run each time: the demo's own session only.
        try? FileManager.default.removeItem(atPath: session.directory)
        let start = Date()
        try session.open()
        try session.parameters.set(["learning_rate": 0.001, "batch_size": 32, "model": ["layers": 4, "activation": "relu"]])
        try session.log("Training started", metadata: ["steps": points])
        let trainLoss = session.track("train_loss", description: "training loss", tags: ["train"])
        let valAccuracy = session.track("val_accuracy", description: "validation accuracy", tags: ["val"])
        let learningRate = session.track("learning_rate", description: "cosine schedule")
        let evalEvery = max(1, points / 100)
        for step in 0..<points {
            let x = Double(step)
            try trainLoss.append(value: ReferenceWorkload.value(step), step: step)
            if step % evalEvery == 0 {
                let epoch = step / evalEvery
                try valAccuracy.append(["value": 1.0 - 0.9 / (1.0 + x * 1e-4), "epoch": epoch])
                try learningRate.append(value: 0.001 * 0.5 * (1 + cos(Double.pi * x / Double(points))), step: step)
                if epoch % 25 == 0 { try session.log(metadata: ["epoch": epoch]).info("Evaluated") }
            }
        }
        try session.log().warn("Demo run: no real model was trained")
        let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("demo-model-\(getpid()).pth").path
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: checkpoint))
        defer { try? FileManager.default.removeItem(atPath: checkpoint) }
        try session.files.upload(checkpoint, path: "/models", description: "final checkpoint", tags: ["final"])
        try session.flush()
        let seconds = Date().timeIntervalSince(start)

        print("Session demo/demo-run in \(session.directory)")
        print("  recorded in \(String(format: "%.2f", seconds)) s")
        var totalPoints: UInt64 = 0
        for track in try session.tracks() {
            totalPoints += track.count
            let last = try session.track(track.name).read(startIndex: track.count - 1, limit: 1).points.first
            let values = try sampledValues(session.track(track.name), count: track.count)
            print("  track \(pad(track.name, 14)) \(pad(String(track.count), 8)) points  \(Sparkline.render(values))  last \(last.map { Value.object($0.data).description } ?? "-")")
        }
        let logs = try session.logs()
        print("  logs: \(logs.count), the last: [\(logs.last?.level.name ?? "-")] \(logs.last?.message ?? "")")
        let params = try session.parameters.get()
        print("  parameters: " + params.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        for file in try session.files.list() {
            print("  file \(file.path)/\(file.filename) \(file.sizeBytes) bytes sha256 \(file.checksum.prefix(12))…")
        }
        try session.close()

        let onDisk = diskUsage(Store.segmentsDirectory(of: session.directory)).bytes
        let perPoint = { (bytes: Int64) in String(format: "%.2f", Double(bytes) / Double(max(1, totalPoints))) }
        let folder = diskUsage(session.directory).bytes
        print("  \(onDisk) bytes of segments on disk for \(totalPoints) points and the logs: \(perPoint(onDisk)) bytes a point "
              + "(the session's folder holds \(folder) with the uploaded file and the commit log: the size `ls` shows)")
        // The same session as Python dreamlake's JSONL layout, for comparison.
        let jsonl = FileManager.default.temporaryDirectory.appendingPathComponent("dreamlake-demo-jsonl-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        let exported = try JSONLLayout.exportSession(at: session.directory, to: jsonl)
        print("  as Python dreamlake's JSONL: \(exported.bytes) bytes, \(perPoint(exported.bytes)) a point "
              + "(\(String(format: "%.0f", Double(exported.bytes) / Double(max(1, onDisk))))x the binary store)")
        // Commands that run as printed from any folder: the binary and the root by their full paths.
        let (command, rootPath) = (invokedCommand, absolutePath(root))
        print("Look further (copy any line):")
        print("  \(command) show demo/demo-run --root \(rootPath)          # the session in full")
        print("  \(command) cat demo/demo-run --root \(rootPath) --track train_loss --limit 5 --format table")
        print("  \(command) export --root \(rootPath) --out DIR demo/demo-run   # Python dreamlake's JSONL layout")
        print("  \(command) verify --root \(rootPath)                      # every block's checksum")
        print("  \(command) ui --root \(rootPath)                          # every run in a web page")
        print("  the store's files are under \(session.directory); FORMAT.md says what every byte means")
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

/// A line of block characters showing a series' shape.
enum Sparkline {
    /// One block per value, scaled between the finite values' least and
    /// greatest; NaN and the infinities are drawn as a space. Values that are
    /// all positive and span two decades or more (a loss falling as 1/x, say)
    /// are drawn on a log scale, and the line ends in " (log)": on a linear
    /// one all but the first would be the lowest block.
    static func render(_ values: [Double]) -> String {
        let finite = values.filter(\.isFinite)
        if let lo = finite.min(), let hi = finite.max(), lo > 0, hi / lo >= 100 {
            return linear(values.map { $0.isFinite ? Foundation.log10($0) : $0 }) + " (log)"
        }
        return linear(values)
    }

    private static func linear(_ values: [Double]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return String(repeating: " ", count: values.count) }
        let span = hi - lo
        return String(values.map { v -> Character in
            guard v.isFinite else { return " " }
            guard span > 0, span.isFinite else { return bars[0] }
            return bars[min(bars.count - 1, max(0, Int((v - lo) / span * Double(bars.count - 1) + 0.5)))]
        })
    }
}
