import Foundation
import SystemPackage

/// The paths users give, read by their components through swift-system's
/// `FilePath` (a trailing or doubled "/" does not count), never by trimming strings.
package enum Paths {
    /// `base` with `names` appended (names the caller has checked: no "/", not "." or "..").
    package static func join(_ base: String, _ names: String...) -> String {
        var path = FilePath(base)
        for n in names { path.append(n) }
        return path.string
    }

    /// `path` with a trailing "/" and doubled ones gone ("/" stays "/").
    package static func tidy(_ path: String) -> String { FilePath(path).string }

    /// The last name in `path`, read after making it absolute (so that "." names the working folder); "" for "/".
    package static func lastName(_ path: String) -> String {
        absolute(path).lastComponent?.string ?? ""
    }

    /// The name of the folder `path` is in, read as ``lastName(_:)`` is.
    package static func parentName(_ path: String) -> String {
        absolute(path).removingLastComponent().lastComponent?.string ?? ""
    }

    /// The folder `path` is in, as written ("" for a bare name).
    package static func parent(_ path: String) -> String { FilePath(path).removingLastComponent().string }

    /// The extension of `path`'s last name, lowercased ("" for none).
    package static func fileExtension(_ path: String) -> String {
        FilePath(path).lastComponent?.extension?.lowercased() ?? ""
    }

    /// `path` against the working directory, "." and ".." resolved by name (no link is read).
    private static func absolute(_ path: String) -> FilePath {
        var p = FilePath(path)
        if p.isRelative { p = FilePath(FileManager.default.currentDirectoryPath).pushing(p) }
        return p.lexicallyNormalized()
    }
}
