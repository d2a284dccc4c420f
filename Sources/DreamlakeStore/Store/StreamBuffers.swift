// The open block of each stream: where appends land, in memory, until the
// block is sealed and handed to the background writer. Each buffer has its
// own lock, so threads appending to different tracks do not contend.

/// The open block of one track.
///
/// Its state is only touched with `lock` held, so Swift's dynamic exclusivity
/// checks (which cost more than the append itself) are turned off for it.
final class TrackBuffer: @unchecked Sendable {
    enum Mode {
        case empty
        /// Every point has exactly `keys` with int/double values of `types`.
        case columns
        /// Points of any shape.
        case rows
    }

    /// What the fast path touches, kept outside the object so a
    /// ``TrackHandle`` reaches it through plain pointers with no reference
    /// counting: the append path is a few tens of instructions, and a
    /// retain/release pair would be a third of them.
    struct Hot {
        /// The index the next appended point gets.
        var nextIndex: UInt64
        var rawBytes = 0
        var isValueStep = false
        var fastCount = 0
        let fastCapacity: Int
        let fastValues: UnsafeMutablePointer<Double>
        let fastSteps: UnsafeMutablePointer<Int64>
        let fastTimestamps: UnsafeMutablePointer<Int64>

        /// The fast path: a point {"value": value, "step": step}. The caller holds the lock.
        @inline(__always)
        mutating func appendValueStep(_ value: Double, _ step: Int64, _ timestamp: Int64) -> Bool {
            let i = fastCount
            guard isValueStep, i < fastCapacity else { return false }
            fastValues[i] = value
            fastSteps[i] = step
            fastTimestamps[i] = timestamp
            fastCount = i &+ 1
            rawBytes &+= 24
            nextIndex &+= 1
            return true
        }
    }

    let lock = Lock()
    let track: TrackID
    let hot: UnsafeMutablePointer<Hot>
    /// The index the next appended point gets.
    var nextIndex: UInt64 {
        get { hot.pointee.nextIndex }
        set { hot.pointee.nextIndex = newValue }
    }
    /// The index of the first point in the open block.
    @exclusivity(unchecked) var firstIndex: UInt64

    @exclusivity(unchecked) var mode: Mode = .empty
    @exclusivity(unchecked) var timestamps: [Int64] = []
    @exclusivity(unchecked) var keys: [String] = []
    @exclusivity(unchecked) var types: [ColumnType] = []
    /// For each key, its position in `ints` or `doubles`.
    @exclusivity(unchecked) var slots: [Int] = []
    @exclusivity(unchecked) var ints: [[Int64]] = []
    @exclusivity(unchecked) var doubles: [[Double]] = []
    @exclusivity(unchecked) var rows: [ValueObject] = []
    /// Whether the schema is {"value": double, "step": int}, the shape of the
    /// fast path. Its points then live in the fixed buffers of `hot` instead
    /// of `timestamps`, `doubles[0]` and `ints[0]`: a store through a pointer
    /// is cheaper than an array append, which checks uniqueness and capacity.
    var isValueStep: Bool {
        get { hot.pointee.isValueStep }
        set { hot.pointee.isValueStep = newValue }
    }
    var fastCount: Int {
        get { hot.pointee.fastCount }
        set { hot.pointee.fastCount = newValue }
    }
    var rawBytes: Int {
        get { hot.pointee.rawBytes }
        set { hot.pointee.rawBytes = newValue }
    }

    init(track: TrackID, nextIndex: UInt64, capacity: Int) {
        self.track = track
        self.firstIndex = nextIndex
        let n = max(1, capacity)
        hot = .allocate(capacity: 1)
        hot.initialize(to: Hot(nextIndex: nextIndex, fastCapacity: n, fastValues: .allocate(capacity: n),
                               fastSteps: .allocate(capacity: n), fastTimestamps: .allocate(capacity: n)))
    }

    deinit {
        hot.pointee.fastValues.deallocate()
        hot.pointee.fastSteps.deallocate()
        hot.pointee.fastTimestamps.deallocate()
        hot.deinitialize(count: 1)
        hot.deallocate()
    }

    var count: Int { isValueStep ? fastCount : timestamps.count }
    /// The timestamps of the open block's first and last points, nil when it is empty.
    var firstTimestamp: Int64? {
        isValueStep ? (fastCount > 0 ? hot.pointee.fastTimestamps[0] : nil) : timestamps.first
    }
    var lastTimestamp: Int64? {
        isValueStep ? (fastCount > 0 ? hot.pointee.fastTimestamps[fastCount - 1] : nil) : timestamps.last
    }

    // MARK: Appending (the caller holds `lock`)

    /// The fast path: a point {"value": value, "step": step}.
    @inline(__always)
    func appendValueStep(_ value: Double, _ step: Int64, _ timestamp: Int64) -> Bool {
        hot.pointee.appendValueStep(value, step, timestamp)
    }

    func startValueStep() {
        mode = .columns
        keys = ["value", "step"]
        types = [.double, .int]
        slots = [0, 0]
        doubles = []
        ints = []
        timestamps = []
        fastCount = 0
        isValueStep = true
    }

    /// Appends a point of any shape; `size` is its ``RowSize`` estimate, which
    /// the caller has already computed. Returns false when the point does not
    /// fit the open block's columns and the block should be sealed first.
    func append(_ point: ValueObject, _ timestamp: Int64, size: Int, minimumColumnarCount: Int) -> Bool {
        switch mode {
        case .empty:
            if !startColumns(for: point) {
                mode = .rows
                appendRow(point, timestamp, size: size)
                return true
            }
            appendColumns(point, timestamp)
            return true
        case .columns:
            if matchesColumns(point) {
                if isValueStep {
                    guard case .double(let v) = point.values[0], case .int(let st) = point.values[1] else { return false }
                    return appendValueStep(v, st, timestamp)
                }
                appendColumns(point, timestamp)
                return true
            }
            // A long columnar run is worth keeping: seal it and start afresh.
            if count >= minimumColumnarCount { return false }
            convertToRows()
            fallthrough
        case .rows:
            appendRow(point, timestamp, size: size)
            return true
        }
    }

    private func appendRow(_ point: ValueObject, _ timestamp: Int64, size: Int) {
        rows.append(point)
        rawBytes &+= 8 + size
        timestamps.append(timestamp)
        nextIndex &+= 1
    }

    private func startColumns(for point: ValueObject) -> Bool {
        guard !point.isEmpty else { return false }
        var newTypes: [ColumnType] = []
        for v in point.values {
            switch v {
            case .int: newTypes.append(.int)
            case .double: newTypes.append(.double)
            default: return false
            }
        }
        if point.count == 2, point.keys[0] == "value", point.keys[1] == "step", newTypes == [.double, .int] {
            startValueStep()
            // The caller appends through appendColumns: route it to the fast buffers.
            return true
        }
        mode = .columns
        keys = Array(point.keys)
        types = newTypes
        slots = []
        ints = []
        doubles = []
        for t in newTypes {
            switch t {
            case .int: slots.append(ints.count); ints.append([])
            case .double: slots.append(doubles.count); doubles.append([])
            }
        }
        isValueStep = false
        return true
    }

    private func matchesColumns(_ point: ValueObject) -> Bool {
        guard point.count == keys.count else { return false }
        var i = 0
        for (k, v) in point {
            guard k == keys[i] else { return false }
            switch (v, types[i]) {
            case (.int, .int), (.double, .double): break
            default: return false
            }
            i += 1
        }
        return true
    }

    private func appendColumns(_ point: ValueObject, _ timestamp: Int64) {
        if isValueStep, case .double(let v) = point.values[0], case .int(let st) = point.values[1] {
            _ = appendValueStep(v, st, timestamp)  // a fresh block has room: fastCapacity >= 1
            return
        }
        var i = 0
        for v in point.values {
            switch v {
            case .int(let x): ints[slots[i]].append(x)
            case .double(let x): doubles[slots[i]].append(x)
            default: break  // matchesColumns/startColumns made sure this cannot happen
            }
            i += 1
        }
        timestamps.append(timestamp)
        rawBytes &+= 8 * (keys.count + 1)
        nextIndex &+= 1
    }

    private func convertToRows() {
        let block = snapshot()
        rows = []
        rows.reserveCapacity(block.count)
        for i in 0..<block.count { rows.append(block.point(at: i).data) }
        mode = .rows
        timestamps = block.timestamps
        keys = []; types = []; slots = []; ints = []; doubles = []
        isValueStep = false
        fastCount = 0
    }

    // MARK: Sealing

    /// The open block as a ``PointBlock``, without changing the buffer.
    func snapshot() -> PointBlock {
        let layout: PointBlock.Layout
        switch mode {
        case .empty, .rows:
            layout = .rows(rows)
        case .columns where isValueStep:
            let h = hot.pointee
            let values = Array(UnsafeBufferPointer(start: h.fastValues, count: h.fastCount))
            let steps = Array(UnsafeBufferPointer(start: h.fastSteps, count: h.fastCount))
            let stamps = Array(UnsafeBufferPointer(start: h.fastTimestamps, count: h.fastCount))
            return PointBlock(track: track, firstIndex: firstIndex, timestamps: stamps,
                              layout: .columns(keys: keys, columns: [.double(values), .int(steps)]))
        case .columns:
            var columns: [PointBlock.Column] = []
            for (i, t) in types.enumerated() {
                columns.append(t == .int ? .int(ints[slots[i]]) : .double(doubles[slots[i]]))
            }
            layout = .columns(keys: keys, columns: columns)
        }
        return PointBlock(track: track, firstIndex: firstIndex, timestamps: timestamps, layout: layout)
    }

    /// Takes the open block out of the buffer, leaving it empty, keeping the
    /// schema so the next block starts columnar again without a check.
    func seal(reserve: Int) -> (PointBlock, Int) {
        let block = snapshot()
        let bytes = rawBytes
        timestamps = []
        timestamps.reserveCapacity(reserve)
        rows = []
        for i in ints.indices { ints[i] = []; ints[i].reserveCapacity(reserve) }
        for i in doubles.indices { doubles[i] = []; doubles[i].reserveCapacity(reserve) }
        if mode == .rows { mode = .empty }
        fastCount = 0
        rawBytes = 0
        firstIndex = nextIndex
        return (block, bytes)
    }
}

/// The open block of a stream other than track points, as the writer seals it
/// and readers in the writer's process see it. Its fields are guarded by `lock`.
protocol OpenRecords: AnyObject {
    var lock: Lock { get }
    var stream: StreamKey { get }
    var nextSequence: UInt64 { get }
    var firstSequence: UInt64 { get }
    var count: Int { get }
    /// The open records as a batch, left in place.
    func snapshot() -> Batch
    /// The open records as a batch and their approximate size, the block left empty.
    func seal() -> (Batch, Int)
}

/// The open block of the log. Entries are encoded when they are appended
/// (the log payload of FORMAT.md without its timestamp column) instead of
/// being kept as `LogEntry` values: an entry's string and dictionary storage
/// would otherwise be retained and released at every copy on its way to the
/// background writer, and freed there, which cost more than encoding it once.
final class LogBuffer: OpenRecords, @unchecked Sendable {
    let lock = Lock()
    let stream = StreamKey.logs
    @exclusivity(unchecked) var nextSequence: UInt64
    @exclusivity(unchecked) var firstSequence: UInt64
    @exclusivity(unchecked) var timestamps: [Int64] = []
    @exclusivity(unchecked) var body = ByteWriter()

    init(nextSequence: UInt64) {
        self.nextSequence = nextSequence
        self.firstSequence = nextSequence
    }

    var count: Int { timestamps.count }
    /// The block's size so far: its encoded entries and a word per timestamp.
    var rawBytes: Int { body.count + 8 * timestamps.count }

    func snapshot() -> Batch {
        .encodedLogs(EncodedLogs(firstSequence: firstSequence, timestamps: timestamps, body: body.bytes))
    }

    func seal() -> (Batch, Int) {
        let batch = snapshot()
        let bytes = rawBytes
        timestamps = []
        body = ByteWriter(capacity: min(bytes, 1 << 20))
        firstSequence = nextSequence
        return (batch, bytes)
    }
}

/// The open block of a stream of records other than track points and logs.
final class RecordBuffer<Record: Sendable>: OpenRecords, @unchecked Sendable {
    let lock = Lock()
    let stream: StreamKey
    @exclusivity(unchecked) var nextSequence: UInt64
    @exclusivity(unchecked) var firstSequence: UInt64
    @exclusivity(unchecked) var records: [Record] = []
    @exclusivity(unchecked) var rawBytes = 0
    private let makeBatch: @Sendable ([Record]) -> Batch

    init(stream: StreamKey, nextSequence: UInt64, makeBatch: @escaping @Sendable ([Record]) -> Batch) {
        self.stream = stream
        self.nextSequence = nextSequence
        self.firstSequence = nextSequence
        self.makeBatch = makeBatch
    }

    var count: Int { records.count }

    func snapshot() -> Batch { makeBatch(records) }

    func seal() -> (Batch, Int) {
        let batch = makeBatch(records)
        let bytes = rawBytes
        records = []
        rawBytes = 0
        firstSequence = nextSequence
        return (batch, bytes)
    }
}

/// A rough size of a value in bytes, for deciding when a block is full.
enum RowSize {
    static func estimate(_ o: ValueObject) -> Int {
        var n = 1
        for (k, v) in o { n += k.utf8.count + 1 + estimate(v) }
        return n
    }

    static func estimate(_ v: Value) -> Int {
        switch v {
        case .null, .bool: 1
        case .int, .double: 9
        case .string(let s): s.utf8.count + 2
        case .array(let a): a.reduce(2) { $0 + estimate($1) }
        case .object(let o): estimate(o)
        }
    }
}
