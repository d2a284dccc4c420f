import Dreamlake
import DreamlakeStore
import Foundation

/// Who may read and write a workspace through `dreamlake serve`.
///
/// The user who first reaches a workspace through the server (creating a
/// session in it, or reaching one of its sessions) becomes its owner, recorded
/// in `<root>/<workspace>/.owner`; the owner may do everything. Anyone else may
/// do what the server's sharing allows (``share``: nothing by default, else
/// read, or read and write, for every workspace) or what a grant gives them
/// (``grants``), whichever allows more. A user is the `userName` of their token.
package struct AccessPolicy: Sendable, Equatable {
    /// What a user may do with a workspace.
    package enum Level: Int, Sendable, Comparable, CaseIterable {
        case none = 0, read, write

        package var name: String {
            switch self {
            case .none: "none"
            case .read: "read"
            case .write: "write"
            }
        }

        package init?(name: String) {
            guard let l = Level.allCases.first(where: { $0.name == name }) else { return nil }
            self = l
        }

        package static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// What every user may do with workspaces they do not own.
    package var share: Level
    /// Per workspace (`"*"`: every workspace), per user name, what that user may do.
    package var grants: [String: [String: Level]]

    package init(share: Level = .none, grants: [String: [String: Level]] = [:]) {
        self.share = share
        self.grants = grants
    }

    /// What `user` may do with `workspace`, whose owner is `owner`.
    package func level(of user: String, in workspace: String, ownedBy owner: String) -> Level {
        if user == owner { return .write }
        return max(share, grants[workspace]?[user] ?? .none, grants["*"]?[user] ?? .none)
    }

    /// The grants in a JSON file: `{"<workspace or *>": {"<user>": "read" | "write" | "none"}}`.
    package static func grants(fromFile path: String) throws(DreamlakeError) -> [String: [String: Level]] {
        let doc = try JSONLLayout.readObject(path)
        var out: [String: [String: Level]] = [:]
        for (workspace, users) in doc {
            guard let users = users.objectValue else {
                throw DreamlakeError(.invalidInput, "\(path): the grants of \(Names.quoted(workspace)) are not an object of user names", path: path)
            }
            for (user, level) in users {
                guard let name = level.stringValue, let l = Level(name: name) else {
                    throw DreamlakeError(.invalidInput, "\(path): the grant of \(Names.quoted(user)) in \(Names.quoted(workspace)) is \(level), not \"read\", \"write\" or \"none\"", path: path)
                }
                out[workspace == "*" ? "*" : Names.canonical(workspace), default: [:]][user] = l
            }
        }
        return out
    }
}

extension RemoteService {
    /// The owner of `workspace`, which becomes `user` when it has none yet (the root records it:
    /// ``SessionRoot/workspaceOwner(_:claimingFor:)``).
    func owner(of workspace: String, claimingFor user: String) throws(RemoteError) -> String {
        let found: String?
        do { found = try sessionRoot.workspaceOwner(workspace, claimingFor: user) } catch {
            throw RemoteError(error.isRetryable == true ? 503 : 500, error.message + (error.isRetryable == true ? "; try again" : ""))
        }
        guard let found else { throw RemoteError(500, "the owner of workspace \(Names.quoted(workspace)) could not be settled") }
        return found
    }

    /// Whether `user` may read `workspace` in the viewer, which never claims a
    /// workspace by looking: one nobody has reached through the server (its
    /// sessions were written on the server's machine) has no owner, and every
    /// user with a token may read it; an owner record that cannot be read allows nobody.
    package func mayRead(_ user: String, workspace: String) -> Bool {
        let workspace = Names.canonical(workspace)
        let found: String?
        do { found = try sessionRoot.workspaceOwner(workspace, claimingFor: nil) } catch { return false }
        guard let owner = found else { return true }
        return policy.level(of: user, in: workspace, ownedBy: owner) >= .read
    }

    /// Throws 403 unless `user` may read (or, when `write`, write) `workspace`.
    package func authorize(_ user: String, workspace: String, write: Bool) throws(RemoteError) {
        let workspace = Names.canonical(workspace)
        do { try Names.checkSessionComponent(workspace, "workspace") } catch { throw RemoteError(error) }
        let owner = try owner(of: workspace, claimingFor: user)
        let level = policy.level(of: user, in: workspace, ownedBy: owner)
        guard level >= (write ? .write : .read) else {
            throw RemoteError(403, "user \(Names.quoted(user)) may not \(write ? "write to" : "read") workspace \(Names.quoted(workspace)), which belongs to \(Names.quoted(owner)); its owner or the server's --share and --grants decide")
        }
    }

    /// Throws 404 for an unknown session and 403 unless `user` may read (or write) its workspace.
    /// A read takes no lease: on an S3 root any node reads any session.
    package func authorize(_ user: String, session id: String, write: Bool) throws(RemoteError) {
        let workspace: String
        if write {
            workspace = try acquire(id).workspace
            release(id)
        } else {
            let (session, done) = try readable(id)
            workspace = session.workspace
            done()
        }
        try authorize(user, workspace: workspace, write: write)
    }
}
