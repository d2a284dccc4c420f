import Dreamlake
@_spi(Fuzzing) import DreamlakeStore
import Foundation
import Glibc

/// The whole read path on a crafted store, for the fuzzers (`scripts/fuzz`,
/// target `store`) and their regression tests: the bytes become a session's
/// segment (sealed or active, as the input's length is odd or even), and the
/// store is verified, opened and recovered, every stream read, the records
/// folded as the session API folds them, read as `dreamlake serve` answers
/// for it, exported to Python's layout, and finally opened by a writer (which cuts what recovery cuts). Whatever the
/// bytes, each step returns or throws; a trap, a hang or an unbounded
/// allocation is a bug. Behind an SPI: no part of the library's API.
@_spi(Fuzzing)
public enum StoreFuzzEntry {
    /// Runs the read path on `data` as segment 1 of a session. The checksums
    /// in it are set right first, unless `fixingChecksums` is false.
    public static func run(_ data: [UInt8], fixingChecksums: Bool = true) {
        var data = data
        if fixingChecksums { FuzzEntry.fixSegmentChecksums(&data) }
        var template = Array("/tmp/dreamlake-fuzz-store-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }),
              let root = String(validatingCString: made) else { return }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let session = root + "/ws/s"
        let segments = Store.segmentsDirectory(of: session)
        do {
            try FileManager.default.createDirectory(atPath: segments, withIntermediateDirectories: true)
            try Data(data).write(to: URL(fileURLWithPath: segments + "/w0000-00000001.dls"))
            if data.count % 2 == 1 {
                // A second, empty segment makes the first a sealed one, read the way sealed segments are.
                try Data(FuzzEntry.segmentHeader(number: 2)).write(to: URL(fileURLWithPath: segments + "/w0000-00000002.dls"))
            }
        } catch { return }

        _ = try? Store.verify(directory: session)
        var salvage = StoreConfiguration()
        salvage.recovery = .salvage
        if let store = try? Store(directory: session, access: .read, configuration: salvage) {
            for track in store.tracks() {
                _ = try? store.points(of: track.id, from: 0, limit: Int(min(track.count, 1 << 20)))
                if track.count > 0 { _ = try? store.points(of: track.id, from: track.count - 1, limit: 1) }
                _ = try? store.envelope(of: track.id, field: "value", buckets: 7)
            }
            _ = try? store.logs()
            _ = try? store.parameterUpdates()
            _ = try? store.sessionMetadataUpdates()
            _ = try? store.trackMetadataRecords()
            _ = try? store.fileRecords()
            try? store.close()
        }
        if let reader = try? Session(name: "s", workspace: "ws", localPath: root) {
            if (try? reader.openForReading()) != nil {
                _ = try? reader.parameters.get()
                _ = try? reader.files.list()
                for track in (try? reader.tracks()) ?? [] { _ = try? reader.track(track.name).read(startIndex: 0, limit: 1000) }
            }
            try? reader.close()
        }
        // What `dreamlake serve` answers about it.
        if let service = try? RemoteService(root: root, maxOpenSessions: 1) {
            let id = RemoteService.sessionID(workspace: "ws", name: "s")
            _ = try? service.parameters(id)
            _ = try? service.listFiles(id, prefix: nil, tags: nil)
            if case .object(let list)? = try? service.listTracks(id) {
                for track in list["tracks"]?.arrayValue ?? [] {
                    guard let name = track.objectValue?["name"]?.stringValue else { continue }
                    _ = try? service.readTrack(id, track: name, startIndex: 0, limit: 1000)
                    _ = try? service.trackStats(id, track: name)
                }
            }
            _ = service.close()
        }
        _ = try? JSONLLayout.exportSession(at: session, to: root + "/export")
        if let writer = try? Store(directory: session, configuration: salvage) { try? writer.close() }
    }
}
