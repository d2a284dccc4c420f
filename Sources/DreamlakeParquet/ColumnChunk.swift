import CLZ4

/// What the footer says of one column chunk: where its pages are, how they are encoded, their sizes and
/// the chunk's statistics. Offsets are from the chunk's start until ``placed(at:)`` makes them the file's.
struct ChunkMeta: Sendable {
    var encodings: [Int32]
    var numValues: Int64
    var uncompressedSize: Int64
    var compressedSize: Int64
    var dataPageOffset: Int64
    var dictionaryPageOffset: Int64?
    var nullCount: Int64
    var min: [UInt8]?
    var max: [UInt8]?

    func placed(at base: Int64) -> ChunkMeta {
        var m = self
        m.dataPageOffset += base
        m.dictionaryPageOffset = dictionaryPageOffset.map { $0 + base }
        return m
    }

    var firstPageOffset: Int64 { dictionaryPageOffset ?? dataPageOffset }

    /// ColumnMetaData.
    func write(_ column: ParquetColumn, into t: inout ThriftCompactWriter) {
        t.i32(1, column.kind.physicalType)
        t.listOfI32(2, encodings)
        t.listOfStrings(3, [column.name])
        t.i32(4, Codec.lz4Raw)
        t.i64(5, numValues)
        t.i64(6, uncompressedSize)
        t.i64(7, compressedSize)
        t.i64(9, dataPageOffset)
        if let d = dictionaryPageOffset { t.i64(11, d) }
        t.structure(12) { t in
            t.i64(3, nullCount)
            if let max { t.binary(5, max) }
            if let min { t.binary(6, min) }
        }
    }
}

/// Parquet's enum values this writer uses.
enum Encoding {
    static let plain: Int32 = 0, rle: Int32 = 3, deltaBinaryPacked: Int32 = 5, rleDictionary: Int32 = 8, byteStreamSplit: Int32 = 9
}

enum Codec {
    static let lz4Raw: Int32 = 7
}

/// Encodes one column chunk: its pages (an optional dictionary page, then data pages), each a Thrift
/// PageHeader and its LZ4_RAW-compressed body.
enum ColumnChunkEncoder {
    /// Byte-string pages end once they hold about this many bytes of values.
    static let bytesPerPage = 1 << 20
    /// A string column is dictionary-encoded when it has at most this many distinct values...
    static let dictionaryEntries = 1 << 16
    /// ...of at most this many bytes in all, and each repeats on average.
    static let dictionaryBytes = 4 << 20

    static func encode(_ column: ParquetColumn, _ v: ParquetColumnValues, rows: Int) -> ([UInt8], ChunkMeta) {
        var out: [UInt8] = []
        let nulls = v.present.map { $0.reduce(0) { $0 + ($1 ? 0 : 1) } } ?? 0
        var meta = ChunkMeta(encodings: [], numValues: Int64(rows), uncompressedSize: 0, compressedSize: 0,
                             dataPageOffset: 0, dictionaryPageOffset: nil, nullCount: Int64(nulls), min: nil, max: nil)
        (meta.min, meta.max) = statistics(v.values)
        // Where each page's rows end, and its values with them: every 65,536 rows, or sooner for byte strings.
        var pages: [(rows: Range<Int>, values: Range<Int>)] = []
        var row = 0, value = 0
        if case .bytes = v.values {} else {
            let step = ParquetWriter.rowsPerPage
            while row < rows {
                let end = Swift.min(rows, row + step)
                let present = v.present.map { p in p[row..<end].reduce(0) { $0 + ($1 ? 1 : 0) } } ?? (end - row)
                pages.append((row..<end, value..<(value + present)))
                row = end
                value += present
            }
        }
        while row < rows {
            var end = row, valueEnd = value, bytes = 0
            while end < rows && end - row < ParquetWriter.rowsPerPage {
                if v.present?[end] ?? true {
                    if case .bytes(_, let ends) = v.values {
                        bytes += ends[valueEnd] - (valueEnd == 0 ? 0 : ends[valueEnd - 1])
                    }
                    valueEnd += 1
                }
                end += 1
                if bytes >= bytesPerPage { break }
            }
            pages.append((row..<end, value..<valueEnd))
            row = end
            value = valueEnd
        }
        var dictionary: (indexes: [UInt32], width: Int)?
        var found: (entries: (bytes: [UInt8], ends: [Int]), indexes: [UInt32])?
        switch v.values {
        case .bytes(let bytes, let ends): found = self.dictionary(bytes: bytes, ends: ends)
        case .repeatedBytes(let one, let count): found = ((one, [one.count]), [UInt32](repeating: 0, count: count))
        default: break
        }
        if let d = found {
            // The dictionary page: its entries, PLAIN.
            var body: [UInt8] = []
            Encode.plain(bytes: d.entries.bytes, ends: d.entries.ends, range: d.entries.ends.indices, to: &body)
            meta.dictionaryPageOffset = Int64(out.count)
            page(&out, &meta, body: body) { t in
                t.i32(1, 2)  // DICTIONARY_PAGE
                return { t in
                    t.structure(7) { t in
                        t.i32(1, Int32(d.entries.ends.count))
                        t.i32(2, Encoding.plain)
                    }
                }
            }
            dictionary = (d.indexes, Swift.max(1, bitWidth(UInt64(d.entries.ends.count - 1))))
        }
        let valueEncoding: Int32 = switch column.kind {
        case .int64, .timestampMicros: Encoding.deltaBinaryPacked
        case .double: Encoding.byteStreamSplit
        case .boolean: Encoding.plain
        case .string: dictionary == nil ? Encoding.plain : Encoding.rleDictionary
        }
        meta.dataPageOffset = Int64(out.count)
        for p in pages {
            var body: [UInt8] = []
            if column.optional {
                // Definition levels (1: a value, 0: a null), the RLE hybrid at one bit, after their length.
                var levels = [UInt32](repeating: 1, count: p.rows.count)
                if let present = v.present { for (k, r) in p.rows.enumerated() where !present[r] { levels[k] = 0 } }
                var encoded: [UInt8] = []
                Encode.hybrid(levels[...], width: 1, to: &encoded)
                withUnsafeBytes(of: UInt32(encoded.count).littleEndian) { body.append(contentsOf: $0) }
                body.append(contentsOf: encoded)
            }
            if let dictionary {
                body.append(UInt8(dictionary.width))
                Encode.hybrid(dictionary.indexes[p.values], width: dictionary.width, to: &body)
            } else {
                switch v.values {
                case .int64(let x): Encode.deltaBinaryPacked(x[p.values], to: &body)
                case .double(let x): Encode.byteStreamSplit(x[p.values], to: &body)
                case .boolean(let x): Encode.plain(x[p.values], to: &body)
                case .bytes(let bytes, let ends): Encode.plain(bytes: bytes, ends: ends, range: p.values, to: &body)
                case .repeatedBytes: break  // always a dictionary
                }
            }
            page(&out, &meta, body: body) { t in
                t.i32(1, 0)  // DATA_PAGE
                return { t in
                    t.structure(5) { t in
                        t.i32(1, Int32(p.rows.count))
                        t.i32(2, valueEncoding)
                        t.i32(3, Encoding.rle)
                        t.i32(4, Encoding.rle)
                    }
                }
            }
        }
        var encodings: [Int32] = [valueEncoding, Encoding.rle]
        if dictionary != nil { encodings.append(Encoding.plain) }
        meta.encodings = encodings
        return (out, meta)
    }

    /// Appends a page: its header (type, then sizes, then what `header` adds after them) and its body,
    /// compressed.
    private static func page(_ out: inout [UInt8], _ meta: inout ChunkMeta, body: [UInt8],
                             header: (inout ThriftCompactWriter) -> (inout ThriftCompactWriter) -> Void) {
        let compressed = lz4(body)
        var t = ThriftCompactWriter()
        t.structBody { t in
            let rest = header(&t)
            t.i32(2, Int32(body.count))
            t.i32(3, Int32(compressed.count))
            rest(&t)
        }
        out.append(contentsOf: t.bytes)
        out.append(contentsOf: compressed)
        meta.uncompressedSize += Int64(t.bytes.count + body.count)
        meta.compressedSize += Int64(t.bytes.count + compressed.count)
    }

    /// LZ4's block format (Parquet's LZ4_RAW), from the system's liblz4.
    static func lz4(_ input: [UInt8]) -> [UInt8] {
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: Swift.max(bound, 1))
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_default(src.baseAddress?.assumingMemoryBound(to: CChar.self),
                                     dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     Int32(input.count), Int32(bound))
            }
        }
        out.removeSubrange(Int(Swift.max(n, 0))...)
        return out
    }

    /// The dictionary of a byte-string column, when it pays: its distinct values in order of first
    /// appearance, and each value's index.
    static func dictionary(bytes: [UInt8], ends: [Int]) -> (entries: (bytes: [UInt8], ends: [Int]), indexes: [UInt32])? {
        guard !ends.isEmpty else { return nil }
        var index: [ArraySlice<UInt8>: UInt32] = [:]
        var entries: (bytes: [UInt8], ends: [Int]) = ([], [])
        var indexes: [UInt32] = []
        indexes.reserveCapacity(ends.count)
        var start = 0
        for end in ends {
            let s = bytes[start..<end]
            start = end
            if let k = index[s] {
                indexes.append(k)
                continue
            }
            guard index.count < dictionaryEntries, entries.bytes.count + s.count <= dictionaryBytes else { return nil }
            let k = UInt32(index.count)
            index[s] = k
            entries.bytes.append(contentsOf: s)
            entries.ends.append(entries.bytes.count)
            indexes.append(k)
        }
        guard index.count * 2 <= ends.count else { return nil }  // most values repeat
        return (entries, indexes)
    }

    /// The chunk's smallest and largest value as Parquet stores them (PLAIN, a byte string's bytes alone):
    /// Int64s signed; doubles without NaN, a zero as -0.0 when smallest and +0.0 when largest (so a reader
    /// that skips by them never skips a zero of either sign); byte strings by unsigned bytes, left out past
    /// 1 KiB; booleans false before true.
    static func statistics(_ values: ParquetColumnValues.Values) -> (min: [UInt8]?, max: [UInt8]?) {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        switch values {
        case .int64(let x):
            guard let lo = x.min(), let hi = x.max() else { return (nil, nil) }
            return (le(lo), le(hi))
        case .double(let x):
            var lo = Double.infinity, hi = -Double.infinity, any = false
            for v in x where !v.isNaN {
                any = true
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
            }
            guard any else { return (nil, nil) }
            if lo == 0 { lo = -0.0 }
            if hi == 0 { hi = 0.0 }
            return (le(lo.bitPattern), le(hi.bitPattern))
        case .boolean(let x):
            guard !x.isEmpty else { return (nil, nil) }
            return ([x.contains(false) ? 0 : 1], [x.contains(true) ? 1 : 0])
        case .bytes(let bytes, let ends):
            guard !ends.isEmpty else { return (nil, nil) }
            var lo: ArraySlice<UInt8>?, hi: ArraySlice<UInt8>?
            var start = 0
            for end in ends {
                let s = bytes[start..<end]
                start = end
                if lo.map({ s.lexicographicallyPrecedes($0) }) ?? true { lo = s }
                if hi.map({ $0.lexicographicallyPrecedes(s) }) ?? true { hi = s }
            }
            guard let lo, let hi, lo.count <= 1024, hi.count <= 1024 else { return (nil, nil) }
            return (Array(lo), Array(hi))
        case .repeatedBytes(let one, let count):
            guard count > 0, one.count <= 1024 else { return (nil, nil) }
            return (one, one)
        }
    }
}
