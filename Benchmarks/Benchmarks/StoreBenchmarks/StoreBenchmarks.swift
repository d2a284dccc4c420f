import Benchmark
import Dreamlake
@_spi(Reference) import DreamlakeStore
import Foundation

// The reference workload: point i = {"value": loss(i), "step": i}.
@inline(__always) func loss(_ i: Int) -> Double { ReferenceWorkload.value(i) }

func freshDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "dreamlake-bench-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    return path
}

func bytesOnDisk(_ directory: String) -> Int {
    let segments = directory + "/segments"
    return ((try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? []).reduce(0) { sum, name in
        sum + (((try? FileManager.default.attributesOfItem(atPath: segments + "/" + name))?[.size] as? NSNumber)?.intValue ?? 0)
    }
}

/// The store at `NSTemporaryDirectory()/name`, built once and kept: track
/// `loss` of the reference workload (point i stamped `t0 + i / 16`), appended
/// in runs of `run` points until `done(points, path)` says it has enough.
func keptReferenceStore(_ name: String, run: Int, done: (Int, String) -> Bool) throws -> String {
    let path = NSTemporaryDirectory() + name
    let complete = path + "/complete"
    if FileManager.default.fileExists(atPath: complete) { return path }
    try? FileManager.default.removeItem(atPath: path)
    let store = try Store(directory: path, configuration: StoreConfiguration(durability: .buffered))
    let t = try store.track(named: "loss")
    let t0: Int64 = 1_764_000_000_000_000
    var i = 0
    while !done(i, path) {
        for _ in 0..<run {
            try t.append(value: loss(i), step: Int64(i), timestamp: t0 + Int64(i / 16))
            i += 1
        }
        try store.flush()
    }
    try store.close()
    _ = FileManager.default.createFile(atPath: complete, contents: Data())
    return path
}

/// A store holding `points` points of the reference workload in track 0, built once and kept.
func referenceStore(points: Int) throws -> String {
    try keptReferenceStore("dreamlake-bench-reference-\(points)-v\(FormatConstants.formatVersion)-summaries", run: points) { n, _ in n >= points }
}

/// A store of at least `gib` GiB on disk holding the reference workload in
/// track `loss`, built once and kept (10 GiB takes about three minutes).
func sizedStore(gib: Int) throws -> String {
    try keptReferenceStore("dreamlake-bench-sized-\(gib)GiB-v\(FormatConstants.formatVersion)", run: 10_000_000) { _, path in
        bytesOnDisk(path) >= gib << 30
    }
}

/// A session store (`<root>/bench/export`) holding `points` points of the
/// reference workload with distinct timestamps, a few logs and parameters,
/// built once and kept: the input of the export benchmark.
func exportSession(points: Int) throws -> String {
    let root = NSTemporaryDirectory() + "dreamlake-bench-export-\(points)-v\(FormatConstants.formatVersion)"
    let done = root + "/complete"
    if FileManager.default.fileExists(atPath: done) { return root + "/bench/export" }
    try? FileManager.default.removeItem(atPath: root)
    let session = try Session(name: "export", workspace: "bench", localPath: root, durability: .buffered)
    try session.open()
    try session.parameters.set(["lr": 0.001, "batch": 32])
    for i in 0..<100 { try session.log("step \(i)", metadata: ["i": i]) }
    try session.close()
    let store = try Store(directory: root + "/bench/export", configuration: StoreConfiguration(durability: .buffered))
    let t = try store.track(named: "loss")
    let t0: Int64 = 1_764_000_000_000_000
    for i in 0..<points { try t.append(value: loss(i), step: Int64(i), timestamp: t0 + Int64(i) * 37 + 11) }
    try store.close()
    _ = FileManager.default.createFile(atPath: done, contents: Data())
    return root + "/bench/export"
}

func jsonBytes(_ directory: String) -> Int {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
    var total = 0
    while let rel = walker.nextObject() as? String {
        guard rel.hasSuffix(".json") || rel.hasSuffix(".jsonl") else { continue }
        total += ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + rel))?[.size] as? NSNumber)?.intValue ?? 0
    }
    return total
}

final class Box<T>: @unchecked Sendable { var value: T; init(_ v: T) { value = v } }

/// The regression thresholds: these machines are noisy, so time may drift
/// 25% before it counts as a regression; allocations and memory 10%. Metrics
/// of our own have none. Each is given for the median (`baseline check`
/// compares medians) and for p90, the one percentile `thresholds check`
/// compares with the files in Thresholds/ (a threshold for p50 alone is never
/// looked at there, and that check passes whatever was measured).
func limits(for metrics: [BenchmarkMetric]) -> [BenchmarkMetric: BenchmarkThresholds] {
    let all: [BenchmarkMetric: BenchmarkThresholds] = [
        .wallClock: .init(relative: [.p50: 25, .p90: 25]),
        .throughput: .init(relative: [.p50: 25, .p90: 25]),
        .peakMemoryResident: .init(relative: [.p50: 10, .p90: 10]),
        .mallocCountTotal: .init(relative: [.p50: 10, .p90: 10]),
    ]
    return all.filter { metrics.contains($0.key) }
}

/// A configuration recording `metrics`, with the thresholds of those only
/// (the tool warns about thresholds for metrics a benchmark does not record).
func measuring(_ metrics: [BenchmarkMetric], maxDuration: Duration = .seconds(5), maxIterations: Int = 50) -> Benchmark.Configuration {
    .init(metrics: metrics, maxDuration: maxDuration, maxIterations: maxIterations, thresholds: limits(for: metrics))
}

let benchmarks: @Sendable () -> Void = {
    // Thresholds for `swift package benchmark thresholds check` and
    // `baseline check` (see `limits`). A benchmark with metrics of its own
    // gets the thresholds of those only.
    let defaultMetrics: [BenchmarkMetric] = [.wallClock, .throughput, .peakMemoryResident, .mallocCountTotal]
    Benchmark.defaultConfiguration = .init(
        metrics: defaultMetrics,
        warmupIterations: 1,
        maxDuration: .seconds(5),
        maxIterations: 50,
        thresholds: limits(for: defaultMetrics)
    )

    // Engine fast path, a million appends per iteration, default durability
    // (interval, 1000 ms): the background thread compresses, writes and fsyncs
    // meanwhile. The values are computed beforehand so that only the append is
    // measured; one variant passes timestamps, the other lets the engine read
    // the clock (clock_gettime, about 35 ns on this machine).
    let values = (0..<1_000_000).map(loss)
    for engineClock in [false, true] {
        let appendStore = Box<(Store, TrackHandle, String)?>(nil)
        let appended = Box(0)
        Benchmark(engineClock ? "EngineAppendFastPathEngineClock" : "EngineAppendFastPath",
                  configuration: .init(scalingFactor: .mega),
                  closure: { b in
                      guard let (_, track, _) = appendStore.value else { return }
                      var i = appended.value
                      let t0: Int64 = 1_764_000_000_000_000
                      values.withUnsafeBufferPointer { v in
                          for k in b.scaledIterations {
                              if engineClock {
                                  blackHole(try? track.append(value: v[k], step: Int64(i)))
                              } else {
                                  blackHole(try? track.append(value: v[k], step: Int64(i), timestamp: t0 + Int64(i >> 4)))
                              }
                              i += 1
                          }
                      }
                      appended.value = i
                  },
                  setup: {
                      let dir = freshDirectory("append")
                      let store = try Store(directory: dir)
                      appendStore.value = (store, try store.track(named: "loss"), dir)
                      appended.value = 0
                  },
                  teardown: {
                      if let (store, _, dir) = appendStore.value {
                          try store.close()
                          try? FileManager.default.removeItem(atPath: dir)
                      }
                      appendStore.value = nil
                  })
    }

    // One append per iteration: the distribution of single-append latency
    // (includes the harness's own per-iteration cost).
    let latencyStore = Box<(Store, TrackHandle, String, Int)?>(nil)
    Benchmark("EngineAppendLatency",
              configuration: measuring([.wallClock], maxDuration: .seconds(3), maxIterations: 2_000_000),
              closure: { _ in
                  guard let (_, track, _, i) = latencyStore.value else { return }
                  blackHole(try track.append(value: loss(i), step: Int64(i)))
                  latencyStore.value?.3 = i + 1
              },
              setup: {
                  let dir = freshDirectory("latency")
                  let store = try Store(directory: dir)
                  latencyStore.value = (store, try store.track(named: "loss"), dir, 0)
              },
              teardown: {
                  if let (store, _, dir, _) = latencyStore.value {
                      try store.close()
                      try? FileManager.default.removeItem(atPath: dir)
                  }
                  latencyStore.value = nil
              })

    // Bytes per point on disk for 1,000,000 points of the reference workload,
    // reported as a custom metric (hundredths of a byte).
    Benchmark("BytesPerPoint1M",
              configuration: measuring([.custom("centibytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false)],
                              maxIterations: 1),
              closure: { b in
                  let dir = freshDirectory("size")
                  defer { try? FileManager.default.removeItem(atPath: dir) }
                  let store = try Store(directory: dir)
                  let t = try store.track(named: "loss")
                  let n = 1_000_000
                  for i in 0..<n { try t.append(value: loss(i), step: Int64(i)) }
                  try store.close()
                  b.measurement(.custom("centibytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false),
                                bytesOnDisk(dir) * 100 / n)
              })

    // Reading 1,000 consecutive points from the middle of a 100-million-point track.
    let readStore = Box<Store?>(nil)
    let hundredMillion = 100_000_000
    Benchmark("ReadMiddle1000Of100M",
              configuration: measuring([.wallClock, .mallocCountTotal], maxDuration: .seconds(3), maxIterations: 2000),
              closure: { _ in
                  guard let store = readStore.value else { return }
                  let pts = try store.points(of: TrackID(rawValue: 0), from: UInt64(hundredMillion / 2), limit: 1000)
                  precondition(pts.count == 1000)
                  blackHole(pts)
              },
              setup: { readStore.value = try Store(directory: try referenceStore(points: hundredMillion), access: .read) },
              teardown: { try readStore.value?.close(); readStore.value = nil })

    // A full scan of the 100-million-point track through its columns.
    Benchmark("FullScan100M",
              configuration: measuring([.wallClock, .peakMemoryResident], maxDuration: .seconds(10), maxIterations: 3),
              closure: { _ in
                  guard let store = readStore.value else { return }
                  var sum = 0.0
                  var n = 0
                  try store.forEachPointBlock(of: TrackID(rawValue: 0)) { block in
                      if case .double(let v)? = block.column(named: "value") { for x in v { sum += x } }
                      n += block.count
                      return true
                  }
                  precondition(n == hundredMillion)
                  blackHole(sum)
              },
              setup: { readStore.value = try Store(directory: try referenceStore(points: hundredMillion), access: .read) },
              teardown: { try readStore.value?.close(); readStore.value = nil })

    // The envelope a chart draws (issue 16's targets: 100 M points in 2,000
    // buckets within 20 ms; 1,000 buckets of a 1 M-point zoomed range within 5 ms).
    Benchmark("Envelope100MIn2000",
              configuration: measuring([.wallClock, .peakMemoryResident], maxDuration: .seconds(10), maxIterations: 5),
              closure: { _ in
                  guard let store = readStore.value else { return }
                  let e = try store.envelope(of: TrackID(rawValue: 0), field: "value", buckets: 2_000)
                  precondition(e.count == 2_000)
                  blackHole(e)
              },
              setup: { readStore.value = try Store(directory: try referenceStore(points: hundredMillion), access: .read) },
              teardown: { try readStore.value?.close(); readStore.value = nil })
    Benchmark("Envelope1MOf100MIn1000",
              configuration: measuring([.wallClock], maxDuration: .seconds(5), maxIterations: 200),
              closure: { _ in
                  guard let store = readStore.value else { return }
                  let from = UInt64(hundredMillion / 2)
                  let e = try store.envelope(of: TrackID(rawValue: 0), field: "value", range: from..<from + 1_000_000, buckets: 1_000)
                  precondition(e.count == 1_000)
                  blackHole(e)
              },
              setup: { readStore.value = try Store(directory: try referenceStore(points: hundredMillion), access: .read) },
              teardown: { try readStore.value?.close(); readStore.value = nil })

    // The session API on the same workload: the fast path, a three-field
    // dictionary point, a batch of 1,000, and a log entry with metadata.
    let sessionBox = Box<(Session, String)?>(nil)
    let sessionSetup: @Sendable () throws -> Void = {
        let root = freshDirectory("session")
        let s = try Session(name: "bench", workspace: "bench", localPath: root)
        try s.open()
        sessionBox.value = (s, root)
    }
    let sessionTeardown: @Sendable () throws -> Void = {
        if let (s, root) = sessionBox.value {
            try s.close()
            try? FileManager.default.removeItem(atPath: root)
        }
        sessionBox.value = nil
    }
    Benchmark("SessionAppendValueStep", configuration: .init(scalingFactor: .mega),
              closure: { b in
                  guard let (s, _) = sessionBox.value else { return }
                  let track = s.track("loss")
                  values.withUnsafeBufferPointer { v in
                      for k in b.scaledIterations { blackHole(try? track.append(value: v[k], step: k)) }
                  }
              }, setup: sessionSetup, teardown: sessionTeardown)
    Benchmark("SessionAppendDictionary", configuration: .init(scalingFactor: .kilo),
              closure: { b in
                  guard let (s, _) = sessionBox.value else { return }
                  let track = s.track("loss")
                  for k in b.scaledIterations {
                      let loss = values[k]
                      blackHole(try? track.append(["value": loss, "step": k, "phase": "train"]))
                  }
              }, setup: sessionSetup, teardown: sessionTeardown)
    // The same three fields as a Codable struct: it should cost no more than the dictionary.
    struct PhasedPoint: Encodable { var value: Double; var step: Int; var phase: String }
    Benchmark("SessionAppendCodable", configuration: .init(scalingFactor: .kilo),
              closure: { b in
                  guard let (s, _) = sessionBox.value else { return }
                  let track = s.track("loss")
                  for k in b.scaledIterations { blackHole(try? track.append(PhasedPoint(value: values[k], step: k, phase: "train"))) }
              }, setup: sessionSetup, teardown: sessionTeardown)
    Benchmark("SessionAppendBatch1000", configuration: .init(scalingFactor: .kilo),
              closure: { b in
                  guard let (s, _) = sessionBox.value else { return }
                  let track = s.track("loss")
                  let batch: [KeyValuePairs<String, any ValueConvertible>] = (0..<1000).map { ["value": values[$0], "step": $0] }
                  for _ in b.scaledIterations { blackHole(try? track.appendBatch(batch)) }
              }, setup: sessionSetup, teardown: sessionTeardown)
    Benchmark("SessionLogWithMetadata", configuration: .init(scalingFactor: .kilo),
              closure: { b in
                  guard let (s, _) = sessionBox.value else { return }
                  for k in b.scaledIterations { blackHole(try? s.log("step", level: .info, metadata: ["step": k])) }
              }, setup: sessionSetup, teardown: sessionTeardown)

    // A training loop that asks for its track's stats after every append,
    // 1 M times, beside the same loop without: the stats are served from
    // what the session holds in memory, so neither the bytes on disk nor the
    // rate should move much (issue 33). Wall clock for the million, and the
    // bytes a point on disk after closing (hundredths of a byte).
    for withStats in [false, true] {
        Benchmark(withStats ? "SessionAppendThenStats1M" : "SessionAppendAlone1M",
                  configuration: measuring([.wallClock, .custom("centibytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false)],
                                           maxIterations: 5),
                  closure: { b in
                      let root = freshDirectory(withStats ? "stats" : "alone")
                      defer { try? FileManager.default.removeItem(atPath: root) }
                      let s = try Session(name: "bench", workspace: "bench", localPath: root)
                      try s.open()
                      let track = s.track("loss")
                      let n = 1_000_000
                      b.startMeasurement()
                      try values.withUnsafeBufferPointer { v in
                          for k in 0..<n {
                              try track.append(value: v[k], step: k)
                              if withStats { blackHole(try track.stats().count) }
                          }
                      }
                      b.stopMeasurement()
                      try s.close()
                      b.measurement(.custom("centibytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false),
                                    bytesOnDisk(root + "/bench/bench") * 100 / n)
                  })
    }

    // Export of a 10-million-point session to Python dreamlake's JSONL layout
    // (about 1 GB of JSON), reported as MB/s of JSON written; and the import
    // of that export back into a new store, as MB/s of JSON read.
    let exportPoints = 10_000_000
    let exportOut = Box<String?>(nil)
    Benchmark("ExportJSONL10M",
              configuration: measuring([.wallClock, .peakMemoryResident,
                                        .custom("MBps", polarity: .prefersLarger, useScalingFactor: false)],
                              maxDuration: .seconds(30), maxIterations: 3),
              closure: { b in
                  let out = freshDirectory("export-out")
                  defer { try? FileManager.default.removeItem(atPath: out) }
                  let source = try exportSession(points: exportPoints)
                  let start = ContinuousClock.now
                  let report = try JSONLLayout.exportSession(at: source, to: out)
                  let seconds = (ContinuousClock.now - start) / .seconds(1)
                  precondition(report.points == UInt64(exportPoints))
                  b.measurement(.custom("MBps", polarity: .prefersLarger, useScalingFactor: false),
                                Int(Double(report.bytes) / 1e6 / seconds))
              },
              setup: { _ = try exportSession(points: exportPoints) })
    // The same session to Parquet (issue 32), beside the JSONL export in the same run (compare their wall
    // clocks); bytesPerPoint is the files' bytes a point, in hundredths of a byte.
    Benchmark("ExportParquet10M",
              configuration: measuring([.wallClock, .peakMemoryResident,
                                        .custom("bytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false)],
                              maxDuration: .seconds(30), maxIterations: 3),
              closure: { b in
                  let out = freshDirectory("parquet-out")
                  defer { try? FileManager.default.removeItem(atPath: out) }
                  let source = try exportSession(points: exportPoints)
                  let root = (source as NSString).deletingLastPathComponent
                  let reports = try ParquetExport.export(sessions: [("bench", "export")], localPath: (root as NSString).deletingLastPathComponent,
                                                         to: out)
                  precondition(reports[0].points == UInt64(exportPoints))
                  b.measurement(.custom("bytesPerPoint", polarity: .prefersSmaller, useScalingFactor: false),
                                Int((Double(reports[0].bytes) / Double(exportPoints) * 100).rounded()))
              },
              setup: { _ = try exportSession(points: exportPoints) })
    Benchmark("ImportJSONL10M",
              configuration: measuring([.wallClock, .peakMemoryResident,
                                        .custom("MBps", polarity: .prefersLarger, useScalingFactor: false)],
                              maxDuration: .seconds(60), maxIterations: 2),
              closure: { b in
                  guard let exported = exportOut.value else { return }
                  let into = freshDirectory("import-into")
                  defer { try? FileManager.default.removeItem(atPath: into) }
                  let start = ContinuousClock.now
                  let report = try JSONLLayout.importSession(from: exported + "/bench/export", into: into)
                  let seconds = (ContinuousClock.now - start) / .seconds(1)
                  precondition(report.points == UInt64(exportPoints) && report.isExact)
                  b.measurement(.custom("MBps", polarity: .prefersLarger, useScalingFactor: false),
                                Int(Double(jsonBytes(exported + "/bench/export")) / 1e6 / seconds))
              },
              setup: {
                  let out = freshDirectory("import-source")
                  try JSONLLayout.exportSession(at: try exportSession(points: exportPoints), to: out)
                  exportOut.value = out
              },
              teardown: {
                  if let out = exportOut.value { try? FileManager.default.removeItem(atPath: out) }
                  exportOut.value = nil
              })

    // Four threads appending into four tracks of one session, a million
    // points each per iteration, through the session API's fast path.
    let fourBox = Box<(Session, String)?>(nil)
    Benchmark("SessionAppend4Threads4Tracks", configuration: .init(scalingFactor: .mega),
              closure: { b in
                  guard let (s, _) = fourBox.value else { return }
                  let tracks = (0..<4).map { s.track("loss\($0)") }
                  let n = b.scaledIterations.count
                  DispatchQueue.concurrentPerform(iterations: 4) { t in
                      values.withUnsafeBufferPointer { v in
                          for k in 0..<n { blackHole(try? tracks[t].append(value: v[k % v.count], step: k)) }
                      }
                  }
              },
              setup: {
                  let root = freshDirectory("four")
                  let s = try Session(name: "four", workspace: "bench", localPath: root)
                  try s.open()
                  fourBox.value = (s, root)
              },
              teardown: {
                  if let (s, root) = fourBox.value {
                      try s.close()
                      try? FileManager.default.removeItem(atPath: root)
                  }
                  fourBox.value = nil
              })

    // tracks() and stats() on a session with 1,000 tracks of 100 points each.
    let manyBox = Box<(Session, String)?>(nil)
    let manySetup: @Sendable () throws -> Void = {
        let root = freshDirectory("many")
        let s = try Session(name: "many", workspace: "bench", localPath: root, durability: .buffered)
        try s.open()
        for t in 0..<1000 {
            let track = s.track("metric/\(t)")
            for i in 0..<100 { try track.append(value: loss(i), step: i) }
        }
        try s.flush()
        manyBox.value = (s, root)
    }
    let manyTeardown: @Sendable () throws -> Void = {
        if let (s, root) = manyBox.value {
            try s.close()
            try? FileManager.default.removeItem(atPath: root)
        }
        manyBox.value = nil
    }
    Benchmark("SessionTracksOf1000", configuration: measuring([.wallClock, .mallocCountTotal], maxIterations: 200),
              closure: { _ in
                  guard let (s, _) = manyBox.value else { return }
                  let all = try s.tracks()
                  precondition(all.count == 1000)
                  blackHole(all)
              }, setup: manySetup, teardown: manyTeardown)
    Benchmark("SessionStatsOf1000", configuration: measuring([.wallClock, .mallocCountTotal], maxIterations: 200),
              closure: { _ in
                  guard let (s, _) = manyBox.value else { return }
                  for t in 0..<1000 { blackHole(try s.track("metric/\(t)").stats()) }
              }, setup: manySetup, teardown: manyTeardown)

    // Opening a store of 1 GiB and one of 10 GiB, side by side: for reading
    // (what `ls`, the viewer and the server do per session) and for writing
    // (a session continued), each opened and closed per iteration. Opening
    // reads the commit log (50 bytes a block) and checks blocks when they are
    // read, so the two sizes should cost about the same. The "Verified"
    // variants check every block's CRC as opening did before (now what
    // `verifySealedSegments` and `.salvage` ask for).
    for gib in [1, 10] {
        for (access, verified) in [(Store.Access.read, false), (.write, false), (.read, true)] {
            let dir = Box<String?>(nil)
            var configuration = StoreConfiguration()
            configuration.verifySealedSegments = verified
            Benchmark("OpenStore\(gib)GiBFor\(access == .read ? "Reading" : "Writing")\(verified ? "Verified" : "")",
                      configuration: measuring([.wallClock, .peakMemoryResident], maxIterations: verified ? 5 : 50),
                      closure: { _ in
                          guard let dir = dir.value else { return }
                          let store = try Store(directory: dir, access: access, configuration: configuration)
                          blackHole(store.count(of: .track(TrackID(rawValue: 0))))
                          try store.close()
                      },
                      setup: { dir.value = try sizedStore(gib: gib) })
        }
    }

    // Opening (recovering) a store whose active segment holds 64 MiB: the
    // walk of every block that a writer's open does after a crash.
    let recoveryDir = Box<String?>(nil)
    Benchmark("OpenRecovery64MiB", configuration: measuring([.wallClock, .peakMemoryResident], maxIterations: 20),
              closure: { _ in
                  guard let dir = recoveryDir.value else { return }
                  let store = try Store(directory: dir)
                  blackHole(store.count(of: .track(TrackID(rawValue: 0))))
                  try store.close()
              },
              setup: {
                  let dir = freshDirectory("recovery")
                  var config = StoreConfiguration(durability: .buffered)
                  config.segmentSize = 1 << 30  // one segment, left active
                  let store = try Store(directory: dir, configuration: config)
                  let t = try store.track(named: "loss")
                  var i = 0
                  // Noisy values, so the segment reaches 64 MiB without a billion points.
                  var rng = SystemRandomNumberGenerator()
                  while bytesOnDisk(dir) < 64 << 20 {
                      for _ in 0..<1_000_000 {
                          try t.append(value: Double(bitPattern: rng.next() >> 2), step: Int64(i))
                          i += 1
                      }
                      try store.flush()
                  }
                  try store.close()
                  recoveryDir.value = dir
              },
              teardown: {
                  if let dir = recoveryDir.value { try? FileManager.default.removeItem(atPath: dir) }
                  recoveryDir.value = nil
              })
}
