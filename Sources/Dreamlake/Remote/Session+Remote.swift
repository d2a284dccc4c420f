import DreamlakeStore
import Foundation

/// Where a remote session sends its data, and how.
package struct RemoteTarget: Sendable {
    /// The server's base URL ("http://host:3000").
    var url: String
    /// The bearer token (an `api_key`, or one signed for a `user_name`).
    var token: String
    /// True when the session was also given a `localPath` (Python's hybrid
    /// mode): reads are local. Otherwise reads ask the server.
    var hybrid: Bool
    /// How long ``Session/flush()`` and ``Session/close()`` wait for delivery.
    var deliveryTimeout: TimeInterval
}

extension Session {
    /// A session that logs to a dreamlake server (`dreamlake serve`, or any
    /// server of Python dreamlake 0.2.4's API), authenticated with `apiKey`
    /// (a token from `dreamlake token --user NAME`).
    ///
    /// Appends never wait for the network: they are written to a local store
    /// (the spool) and sent in the background in batches; ``flush()`` and
    /// ``close()`` wait for delivery and report what could not be delivered.
    /// Undelivered data stays in the spool and is sent when the session is
    /// opened again. With `localPath`, the local store is that folder and the
    /// session is readable there too (Python's hybrid mode), and reads are
    /// local; without it, the spool is `$DREAMLAKE_SPOOL` (else
    /// `~/.cache/dreamlake/spool`), and parameters, tracks and files are read
    /// from the server.
    ///
    /// - Parameters:
    ///   - remote: The server's URL, "http://host:port".
    ///   - apiKey: The bearer token.
    ///   - localPath: A folder to keep the session in as well (hybrid mode); nil for none.
    ///   - spool: Where a session without `localPath` keeps what it has not delivered yet;
    ///     nil for `$DREAMLAKE_SPOOL`, else `$XDG_CACHE_HOME/dreamlake/spool`, else `~/.cache/dreamlake/spool`.
    ///   - deliveryTimeout: How long flush and close wait for the server, in seconds.
    ///   - name: The session's name, as for a local session.
    ///   - workspace: The workspace's name.
    ///   - description: A description; nil leaves the server's as it is.
    ///   - tags: Tags; nil leaves the server's as they are.
    ///   - folder: A folder for organizing sessions; nil leaves the server's as it is.
    ///   - metadata: Free-form metadata; nil leaves the server's as it is.
    ///   - writeProtected: When true, the session is marked write-protected.
    public convenience init(name: String, workspace: String, remote: String, apiKey: String, localPath: String? = nil, spool: String? = nil,
                            description: String? = nil, tags: [String]? = nil, folder: String? = nil,
                            metadata: KeyValuePairs<String, any ValueConvertible>? = nil, writeProtected: Bool = false,
                            deliveryTimeout: TimeInterval = 30) throws(DreamlakeError) {
        try self.init(name: name, workspace: workspace, remote: remote, apiKey: apiKey, localPath: localPath, spool: spool,
                      description: description, tags: tags, folder: folder, metadataObject: metadata.map(ValueObject.init(pairs:)),
                      writeProtected: writeProtected, deliveryTimeout: deliveryTimeout)
    }

    /// As the public initializer, with metadata already an object (the C API's), and the durability of the local copy.
    package convenience init(name: String, workspace: String, remote: String, apiKey: String, localPath: String?, spool: String?,
                             description: String?, tags: [String]?, folder: String?, metadataObject: ValueObject?,
                             writeProtected: Bool, durability: Durability = StoreConfiguration().durability,
                             deliveryTimeout: TimeInterval = 30) throws(DreamlakeError) {
        guard let url = URL(string: remote), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()),
              url.host != nil else {
            throw DreamlakeError(.invalidInput, "remote \(Names.quoted(remote)) is not an http:// or https:// URL")
        }
        guard !apiKey.isEmpty else { throw DreamlakeError(.invalidInput, "the API key is empty; mint one with `dreamlake token --user NAME`") }
        let target = RemoteTarget(url: remote, token: apiKey, hybrid: localPath != nil, deliveryTimeout: max(0, deliveryTimeout))
        try self.init(name: name, workspace: workspace, localPath: localPath ?? spool ?? Session.spool(for: url), description: description,
                      tags: tags, folder: folder, metadataObject: metadataObject, writeProtected: writeProtected,
                      durability: durability, remote: target)
    }

    /// A remote session authenticated as `userName`, as Python dreamlake's
    /// `user_name=` does: with a token signed by the client's built-in secret,
    /// which `dreamlake serve` accepts only on a loopback address and without
    /// a secret of its own. See ``init(name:workspace:remote:apiKey:localPath:spool:description:tags:folder:metadata:writeProtected:deliveryTimeout:)``.
    public convenience init(name: String, workspace: String, remote: String, userName: String, localPath: String? = nil, spool: String? = nil,
                            description: String? = nil, tags: [String]? = nil, folder: String? = nil,
                            metadata: KeyValuePairs<String, any ValueConvertible>? = nil, writeProtected: Bool = false,
                            deliveryTimeout: TimeInterval = 30) throws(DreamlakeError) {
        guard !userName.isEmpty else { throw DreamlakeError(.invalidInput, "the user name is empty") }
        try self.init(name: name, workspace: workspace, remote: remote,
                      apiKey: RemoteToken.mint(userName: userName, secret: RemoteToken.pythonClientSecret),
                      localPath: localPath, spool: spool, description: description, tags: tags, folder: folder, metadata: metadata,
                      writeProtected: writeProtected, deliveryTimeout: deliveryTimeout)
    }

    /// The spool of a remote-only session: `$DREAMLAKE_SPOOL`, else
    /// `$XDG_CACHE_HOME/dreamlake/spool`, else `~/.cache/dreamlake/spool`,
    /// then a folder for the server (`host_port`).
    static func spool(for url: URL) -> String {
        let env = ProcessInfo.processInfo.environment
        let base = env["DREAMLAKE_SPOOL"]
            ?? (env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/dreamlake/spool"
        let server = (url.host ?? "server") + "_" + String(url.port ?? (url.scheme == "https" ? 443 : 80))
        return base + "/" + String(server.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" ? $0 : "_" })
    }

    /// Whether the session sends to a server.
    public var isRemote: Bool { remote != nil }

    /// After the local store is open: creates the session on the server,
    /// starts delivery and returns the backend that reads (the local store in
    /// hybrid mode, else the server). A refusal (bad token, bad name, a
    /// protected session changed) is thrown; an unreachable server is not: delivery retries.
    func startRemote(_ target: RemoteTarget, store: Store) throws(DreamlakeError) -> any SessionBackend {
        var body: ValueObject = ["name": .string(name)]
        if let d = givenFields.description { body["description"] = .string(d) }
        if let t = givenFields.tags { body["tags"] = .array(t.map(Value.string)) }
        if let f = givenFields.folder { body["folder"] = .string(f) }
        if givenFields.writeProtected { body["writeProtected"] = true }
        if let m = givenFields.metadata { body["metadata"] = .object(m) }
        let replica = RemoteReplica(http: RemoteHTTP(base: target.url, token: target.token), store: store,
                                    directory: directory, workspace: workspace, createBody: .object(body))
        do {
            let session = try replica.create()
            if session["writeProtected"]?.boolValue == true && !isWriteProtected {
                try update(description: nil, tags: nil, folder: nil, metadata: nil, writeProtected: true)
            }
        } catch let e as RemoteCallError {
            if !e.isRetryable {
                throw DreamlakeError(.remote, "\(target.url) refused session \(workspace)/\(name): \(e.message)")
            }
        } catch let e as DreamlakeError {
            throw e
        } catch {
            throw DreamlakeError(.remote, "\(error)")
        }
        replica.start()
        let delivery = Delivery(replica: replica, timeout: target.deliveryTimeout, place: place)
        return target.hybrid ? ReplicaBackend(local: LocalBackend(store: store, place: place, home: home), delivery: delivery)
            : RemoteBackend(delivery: delivery)
    }
}
