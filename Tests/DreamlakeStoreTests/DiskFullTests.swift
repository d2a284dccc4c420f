import Foundation
import Testing
@testable import DreamlakeStore
import SystemPackage

/// Mounts a tmpfs of `size` at `path` (root on Linux); false when the machine does not allow it.
func mountTmpfs(_ path: String, size: String, remount: Bool = false) -> Bool {
    let flags: UInt = remount ? UInt(MS_REMOUNT) : 0
    return mount("tmpfs", path, "tmpfs", flags, "size=\(size)") == 0
}

let canMountTmpfs: Bool = {
    let probe = NSTemporaryDirectory() + "dreamlake-mount-probe-\(getpid())"
    try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard mountTmpfs(probe, size: "64k") else { return false }
    umount(probe)
    return true
}()

/// Ingests into a store at `path` until the disk is full, checks that the
/// caller is told, then frees space and checks that the store opens, holds
/// every acknowledged point and takes new appends.
func ingestUntilTheDiskIsFull(path: String, freeSpace: () throws -> Void) throws {
    let store = try Store(directory: path, configuration: StoreConfiguration(durability: .buffered))
    let track = try store.track(named: "loss")
    var acknowledged = 0
    var failure: StoreError?
    for i in 0..<5_000_000 {
        do {
            try track.append(value: referenceLoss(i), step: Int64(i))
            if (i + 1) % 20_000 == 0 {
                try store.flush()
                acknowledged = i + 1
            }
        } catch {
            failure = error
            break
        }
    }
    // The disk filled, and the caller was told: with the errno, not silence.
    let error = try #require(failure)
    #expect(error.code == .io && error.errno == .noSpace, "\(error)")
    #expect(acknowledged > 0)
    // The writer takes no more appends, and flush and close say so too.
    #expect(throws: StoreError.self) { try track.append(value: 0, step: 0) }
    #expect(throws: StoreError.self) { try store.flush() }
    #expect(throws: StoreError.self) { try store.close() }

    // Space is freed: the store opens, holds every acknowledged point, and takes new appends.
    try freeSpace()
    let reopened = try Store(directory: path, configuration: StoreConfiguration(durability: .buffered))
    let info = try #require(reopened.trackInfo(named: "loss"))
    #expect(info.count >= UInt64(acknowledged))
    var checked = 0
    try reopened.forEachPointBlock(of: info.id, to: UInt64(acknowledged)) { block in
        guard case .double(let values)? = block.column(named: "value") else { return false }
        for (k, v) in values.enumerated() where Int(block.firstIndex) + k < acknowledged {
            #expect(v.bitPattern == referenceLoss(Int(block.firstIndex) + k).bitPattern)
            checked += 1
        }
        return true
    }
    #expect(checked == acknowledged)
    let next = try reopened.track(named: "loss").append(value: 1, step: -1)
    #expect(next == info.count)
    try reopened.flush()
    try reopened.close()
}

@Suite struct DiskFullTests {
    @Test(.enabled(if: canMountTmpfs, "needs permission to mount a tmpfs"))
    func aFullTmpfsReachesTheCallerAndAcknowledgedPointsSurvive() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let mountPoint = (dir.path as NSString).deletingLastPathComponent + "/disk"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(mountTmpfs(mountPoint, size: "1m"))
        defer { umount(mountPoint) }
        try ingestUntilTheDiskIsFull(path: mountPoint + "/store") {
            #expect(mountTmpfs(mountPoint, size: "8m", remount: true))
        }
    }

    /// The same on any machine, through the fault layer: a disk with 512 KiB free.
    @Test func anInjectedFullDiskReachesTheCallerAndAcknowledgedPointsSurvive() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let injector = FaultInjector.install(root: dir.path, plan: .fullAfter(bytes: 512 << 10))
        defer { injector.uninstall() }
        try ingestUntilTheDiskIsFull(path: dir.path) { injector.freeSpace() }
        #expect(injector.triggered)
    }
}
