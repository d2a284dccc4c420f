import Foundation

/// A fresh folder under the system's temporary folder, for one test; `remove()` deletes it.
public struct TempRoot: Sendable {
    /// The folder's path.
    public let path: String

    /// Makes the folder, named `dreamlake-<kind>-<uuid>`.
    public init(_ kind: String = "tests") {
        path = NSTemporaryDirectory() + "dreamlake-\(kind)-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Deletes the folder and everything in it.
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A small deterministic random generator (SplitMix64), so that a failure reproduces from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the seed to begin with.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The S3 store the tests use: the variables `scripts/s3-server start` writes (a local Ceph RADOS
/// Gateway), from the environment when `AWS_ENDPOINT_URL` is set there, else from the repository's
/// `.s3-server/env`. Nil when neither is there; a test that needs it fails saying how to start one.
public enum TestS3 {
    /// The environment the S3 tests and the commands they start run with.
    public static let environment: [String: String]? = {
        var env = ProcessInfo.processInfo.environment
        if env["AWS_ENDPOINT_URL"] == nil {
            let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().path + "/.s3-server/env"
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("export ") {
                let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
                if pair.count == 2 { env[String(pair[0])] = String(pair[1]) }
            }
        }
        guard env["AWS_ENDPOINT_URL"] != nil, env["DREAMLAKE_TEST_S3_BUCKET"] != nil else { return nil }
        // Writers' leases of 3 s: a test whose machine is lost waits that long for another to take over, not 30 s.
        if env["DREAMLAKE_S3_LEASE_SECONDS"] == nil { env["DREAMLAKE_S3_LEASE_SECONDS"] = "3" }
        return env
    }()

    /// What a test that needs the store says when there is none.
    public static let missing = "no S3 store for the tests: run `scripts/s3-server start` (scripts/test does)"

    /// The bucket the tests write in.
    public static var bucket: String { environment?["DREAMLAKE_TEST_S3_BUCKET"] ?? "dreamlake-test" }

    /// A key prefix no other test run uses.
    public static func freshPrefix(_ kind: String) -> String { "\(kind)-\(UUID().uuidString.lowercased())" }
}

/// Runs a program, feeding `input` on stdin; returns its stdout, or throws with its stderr when it fails.
public func runProcess(_ executable: String, _ arguments: [String], input: [UInt8] = []) throws -> [UInt8] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    p.standardInput = stdin
    p.standardOutput = stdout
    p.standardError = stderr
    try p.run()
    // Feed stdin and drain stderr on their own threads, so no pipe fills up and blocks the program.
    let feeder = Thread {
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
    }
    feeder.start()
    let errBox = Box()
    let drainer = Thread { errBox.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
    drainer.start()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw PythonFailed(status: p.terminationStatus, stderr: String(decoding: errBox.wait(), as: UTF8.self))
    }
    return Array(out)
}

/// Data handed from one thread to another.
public final class Box: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()
    public init() {}
    public func set(_ d: Data) { data = d; done.signal() }
    public func wait() -> Data { done.wait(); return data }
}

public struct PythonFailed: Error, CustomStringConvertible {
    public var status: Int32
    public var stderr: String
    public init(status: Int32, stderr: String) {
        self.status = status
        self.stderr = stderr
    }
    public var description: String { "python exited with \(status): \(stderr)" }
}

/// The Parquet readers our files are checked with: pyarrow, DuckDB, polars and pandas, in the virtual
/// environment `scripts/parquet-env` makes (scripts/test names its interpreter in DREAMLAKE_PARQUET_PYTHON).
public enum ParquetReaders {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The interpreter; the tests fail, never skip, without it.
    public static func python() throws -> String {
        let path = ProcessInfo.processInfo.environment["DREAMLAKE_PARQUET_PYTHON"] ?? repository + "/.venv-parquet/bin/python"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw PythonFailed(status: -1, stderr: "no Python with pyarrow, duckdb, polars and pandas at \(path): run scripts/parquet-env (scripts/test does)")
        }
        return path
    }

    /// What each reader read from the file at `path` (Tests/Parquet/read_parquet.py):
    /// `[reader: ["types": [column: type], "columns": [column: [value]]]]` (pandas: `"rows"` instead of columns).
    public static func read(_ path: String) throws -> [String: Any] {
        let out = try runProcess(try python(), [repository + "/Tests/Parquet/read_parquet.py", path])
        guard let read = try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any] else {
            throw PythonFailed(status: 0, stderr: "read_parquet.py printed no JSON object")
        }
        return read
    }

    /// The columns `reader` read.
    public static func columns(_ read: [String: Any], _ reader: String) -> [String: [Any]] {
        ((read[reader] as? [String: Any])?["columns"] as? [String: [Any]]) ?? [:]
    }

    /// Whether a reader's value `h` (as read_parquet.py prints it) is `e`: a Double by its bits (a NaN's payload
    /// only where `exactNaN`: DuckDB and polars may hand back their own NaN), an Int64, a Bool or a String as it
    /// is, nil as null.
    public static func same(_ h: Any, _ e: Any?, exactNaN: Bool) -> Bool {
        switch e {
        case nil: return h is NSNull
        case let d as Double:
            guard let r = double(h) else { return false }
            return d.isNaN ? r.isNaN && (!exactNaN || r.bitPattern == d.bitPattern) : r.bitPattern == d.bitPattern
        case let i as Int64: return (h as? NSNumber).map { $0.int64Value == i && "\($0)" == "\(i)" } ?? false
        case let b as Bool: return (h as? String) == (b ? "b:1" : "b:0")
        case let s as String: return (h as? String) == s
        default: return false
        }
    }

    /// A double as read_parquet.py prints it ("f:" and its bytes in little-endian hex).
    public static func double(_ h: Any) -> Double? {
        guard let s = h as? String, s.hasPrefix("f:"), s.count == 18 else { return nil }
        var v: UInt64 = 0
        var i = s.index(s.startIndex, offsetBy: 2)
        for k in 0..<8 {
            let j = s.index(i, offsetBy: 2)
            guard let b = UInt8(s[i..<j], radix: 16) else { return nil }
            v |= UInt64(b) << UInt64(8 * k)
            i = j
        }
        return Double(bitPattern: v)
    }
}
