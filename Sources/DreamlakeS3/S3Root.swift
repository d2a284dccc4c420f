import DreamlakeStore
import Foundation

/// A root of sessions in S3 (`s3://bucket/prefix`): the client that reaches it and the local folder
/// its sessions are written and read through (the spool).
package struct S3Root: Sendable {
    package let location: S3Location
    package let client: S3Client
    /// `<cache folder>/<bucket>/<prefix>`: sessions are `<workspace>/<session>` in it, as in a local root.
    package let localFolder: String

    /// The root `url` with the endpoint, region and credentials of `environment` (see ``S3Configuration/fromEnvironment(_:)``).
    package init(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(S3Error) {
        guard let location = S3Location(url) else {
            throw S3Error(.refused, "\(url) is not an S3 root: s3://BUCKET[/PREFIX], the bucket 3 to 63 of a-z, 0-9, \".\" and \"-\"")
        }
        self.location = location
        client = S3Client(try S3Configuration.fromEnvironment(environment))
        localFolder = Self.cacheFolder(environment) + "/" + location.bucket + (location.prefix.isEmpty ? "" : "/" + location.prefix)
    }

    /// Where S3 roots are spooled: `DREAMLAKE_S3_CACHE`, else `$XDG_CACHE_HOME/dreamlake/s3`,
    /// else `~/.cache/dreamlake/s3`.
    package static func cacheFolder(_ environment: [String: String]) -> String {
        if let given = environment["DREAMLAKE_S3_CACHE"], !given.isEmpty { return given }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/dreamlake/s3" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/dreamlake/s3"
    }

    /// The objects of one session.
    package func objects(workspace: String, name: String) -> S3SessionObjects {
        S3SessionObjects(client: client, location: location, workspace: workspace, name: name)
    }

    /// The sessions in the bucket under the prefix (those with a manifest), as (workspace, name), in order.
    package func sessions() throws(S3Error) -> [(workspace: String, name: String)] {
        let base = location.prefix.isEmpty ? "" : location.prefix + "/"
        var out: [(String, String)] = []
        for ws in try client.list(bucket: location.bucket, prefix: base, delimiter: "/").prefixes {
            let workspace = String(ws.dropFirst(base.count).dropLast())
            // Names come from the bucket: one that could leave the spool ("..", "." or worse) is no session.
            guard Self.isSafeName(workspace) else { continue }
            for s in try client.list(bucket: location.bucket, prefix: ws, delimiter: "/").prefixes {
                let name = String(s.dropFirst(ws.count).dropLast())
                guard Self.isSafeName(name) else { continue }
                if try !client.list(bucket: location.bucket, prefix: s + "manifest/", limit: 1).objects.isEmpty {
                    out.append((workspace, name))
                }
            }
        }
        return out.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    /// Whether a workspace or session name read from the bucket is a plain folder name.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.hasPrefix(".")
            && !name.unicodeScalars.contains { $0.value < 0x20 || $0 == "/" || $0 == "\\" || $0.value == 0x7F }
    }
}
