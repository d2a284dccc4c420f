import ArgumentParser
import DreamlakeStore
import Foundation

@main
struct DreamlakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dreamlake",
        abstract: "Inspect and exercise dreamlake stores.",
        subcommands: [Demo.self]
    )
}

/// Writes a small simulated training run through the storage engine and reads it back.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a simulated training run into a store and show what was stored.")

    @Option(help: "The folder sessions live under (default: $DREAMLAKE_PATH, else ./.dreamlake).")
    var root: String?

    @Option(help: "Points per track.")
    var points: Int = 100_000

    func validate() throws {
        guard points > 0 else { throw ValidationError("--points must be positive") }
    }

    func run() throws {
        let root = self.root ?? ProcessInfo.processInfo.environment["DREAMLAKE_PATH"] ?? "./.dreamlake"
        let directory = root + "/demo/engine-demo"
        try? FileManager.default.removeItem(atPath: directory)
        let start = Date()
        let store = try Store(directory: directory)
        try store.appendSessionMetadata(["name": "engine-demo", "workspace": "demo", "description": "a simulated training run"])
        try store.appendParameters(["learning_rate": 0.001, "batch_size": 32, "model.layers": 4])
        try store.appendLog("Training started", level: .info, metadata: ["points": .int(Int64(points))])
        let loss = try store.track(named: "train_loss", fields: ["description": "training loss"])
        let accuracy = try store.track(named: "val_accuracy")
        let lr = try store.track(named: "learning_rate")
        for i in 0..<points {
            let x = Double(i)
            try loss.append(value: 2.0 / (1.0 + x * 1e-4) + 0.01 * sin(x * 0.37), step: Int64(i))
            if i % 100 == 0 {
                try accuracy.append(["value": .double(1.0 - 0.9 / (1.0 + x * 1e-4)), "epoch": .int(Int64(i / 1000))])
                try lr.append(value: 0.001 * 0.5 * (1 + cos(Double.pi * x / Double(points))), step: Int64(i))
            }
        }
        try store.appendLog("Training finished", level: .info)
        try store.close()
        let seconds = Date().timeIntervalSince(start)

        let reader = try Store(directory: directory, access: .read)
        defer { try? reader.close() }
        print("Stored \(directory) in \(String(format: "%.2f", seconds)) s")
        var totalPoints: UInt64 = 0
        for t in reader.tracks() {
            totalPoints += t.count
            let last = try reader.points(of: t.id, from: t.count - 1, limit: 1).first
            print("  track \(t.name): \(t.count) points, last \(last.map { Value.object($0.data).description } ?? "-")")
        }
        for entry in try reader.logs() { print("  log [\(entry.level)] \(entry.message)") }
        let scanStart = Date()
        var scanned = 0
        var sum = 0.0
        try reader.forEachPointBlock(of: loss.id) { block in
            if case .double(let values)? = block.column(named: "value") { for v in values { sum += v } }
            scanned += block.count
            return true
        }
        let scanSeconds = Date().timeIntervalSince(scanStart)
        print("  scanned \(scanned) points of \(loss.name) in \(String(format: "%.3f", scanSeconds)) s (mean value \(String(format: "%.4f", sum / Double(max(1, scanned)))))")
        let bytes = try FileManager.default.subpathsOfDirectory(atPath: directory + "/segments").reduce(0) { sum, name in
            sum + ((try? FileManager.default.attributesOfItem(atPath: directory + "/segments/" + name)[.size] as? Int) ?? 0)
        }
        print("  \(bytes) bytes on disk, \(String(format: "%.2f", Double(bytes) / Double(max(1, totalPoints)))) bytes per point")
    }
}
