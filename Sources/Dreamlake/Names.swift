// Name checks: nothing a user names can make the store read or write outside
// localPath. Rejected names get an error that says which name and why.

import DreamlakeStore
import Foundation

package enum Names {
    /// Longest name component in UTF-8 bytes (the usual file-name limit).
    static let maxComponentBytes = 255

    /// Checks one path component: a workspace, session or file name.
    static func checkComponent(_ name: String, _ what: String) throws(DreamlakeError) {
        if let problem = componentProblem(name) {
            throw DreamlakeError(.invalidName, "the \(what) name \(quoted(name)) \(problem)")
        }
    }

    package static func componentProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name == "." || name == ".." { return "is \"\(name)\", which names a directory, not an entry" }
        if name.utf8.count > maxComponentBytes { return "is \(name.utf8.count) bytes long; at most \(maxComponentBytes) are allowed" }
        for u in name.unicodeScalars {
            if u == "/" || u == "\\" { return "contains \"\(u)\"; separators are not allowed here" }
            if u.value == 0 { return "contains a NUL character" }
            if u.value < 0x20 || u.value == 0x7F { return "contains the control character U+\(hex(u.value))" }
        }
        return nil
    }

    /// Checks a workspace or session name: a valid component that does not
    /// start with ".", since such folders are the store's own (staging folders
    /// of imports and exports, the server's `.uploads`) and are never listed.
    package static func checkSessionComponent(_ name: String, _ what: String) throws(DreamlakeError) {
        try checkComponent(name, what)
        if name.hasPrefix(".") {
            throw DreamlakeError(.invalidName, "the \(what) name \(quoted(name)) starts with \".\"; such names are the store's own (hidden staging folders, .uploads) and are refused")
        }
    }

    /// Checks a track name: components separated by "/" (as in "train/loss"), each a valid component.
    static func checkTrackName(_ name: String) throws(DreamlakeError) {
        if name.isEmpty { throw DreamlakeError(.invalidName, "the track name is empty") }
        if name.hasPrefix("/") || name.hasSuffix("/") {
            throw DreamlakeError(.invalidName, "the track name \(quoted(name)) starts or ends with \"/\"")
        }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            if let problem = componentProblem(String(part)) {
                throw DreamlakeError(.invalidName, "the track name \(quoted(name)) has a part that \(problem)")
            }
        }
    }

    /// Normalizes a file folder ("/models", "models/best", "/", "") to "/a/b"
    /// form, refusing "..", "." and empty parts.
    static func normalizeFolder(_ path: String) throws(DreamlakeError) -> String {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        if trimmed.isEmpty { return "/" }
        var parts: [String] = []
        for part in trimmed.split(separator: "/", omittingEmptySubsequences: false) {
            let p = String(part)
            if p.isEmpty && parts.count > 0 && part.endIndex == trimmed.endIndex { continue }  // one trailing "/"
            if let problem = componentProblem(p) {
                throw DreamlakeError(.invalidName, "the path \(quoted(path)) has a part that \(problem)")
            }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `name` in Unicode's composed normal form (NFC): the form names are stored in.
    package static func canonical(_ name: String) -> String { name.precomposedStringWithCanonicalMapping }

    /// Throws unless `path`, or the nearest of its ancestors that exists, lies
    /// inside `root` once links are followed: a link to elsewhere (a workspace
    /// or session folder pointing outside the store) is refused before
    /// anything is made through it.
    static func checkInside(_ root: String, _ path: String) throws(DreamlakeError) {
        // The usual case, in a few `lstat`s: `path` is `root/a/b` and no part below the root is a link (nor
        // `.` or `..`), so wherever the root leads, the path is in it. Anything else is resolved in full.
        if path.hasPrefix(root + "/") {
            var below = root
            var plain = true
            for part in path.dropFirst(root.count + 1).split(separator: "/", omittingEmptySubsequences: false) {
                guard !part.isEmpty, part != ".", part != ".." else {
                    plain = false
                    break
                }
                below += "/" + part
                let kind = FileSystem.kind(below)
                if kind == .missing { break }  // nothing is made through a link below here: it is not there
                guard kind == .directory || kind == .regular else {
                    plain = false
                    break
                }
            }
            if plain { return }
        }
        let fm = FileManager.default
        let resolvedRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        var existing = URL(fileURLWithPath: path).standardizedFileURL
        while !fm.fileExists(atPath: existing.path) && existing.path != "/" { existing.deleteLastPathComponent() }
        let resolved = existing.resolvingSymlinksInPath().standardizedFileURL.path
        // The nearest existing ancestor must be the root, inside it, or on the
        // way to it (when the root itself does not exist yet).
        func isWithin(_ path: String, _ folder: String) -> Bool {
            path == folder || folder == "/" || path.hasPrefix(folder + "/")
        }
        guard isWithin(resolved, resolvedRoot) || isWithin(resolvedRoot, resolved) else {
            throw DreamlakeError(.invalidName, "\(path) leads through \(existing.path), which resolves to \(resolved), outside the store's folder \(resolvedRoot); remove the link", path: path)
        }
    }

    package static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F { out += "\\u{\(hex(u.value))}" } else { out.unicodeScalars.append(u) }
        }
        return out + "\""
    }

    static func hex(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
}
