import Foundation

/// Where an S3 root is: a bucket and a key prefix, from `s3://bucket/prefix`.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    /// The bucket's name.
    public var bucket: String
    /// The keys' common beginning, without a "/" at either end; empty for the whole bucket.
    public var prefix: String

    /// Whether `root` names an S3 location (begins with `s3://`) rather than a folder.
    public static func isS3(_ root: String) -> Bool { root.hasPrefix("s3://") }

    /// Parses `s3://bucket[/prefix]`; nil when `url` is not of that form or its bucket is not a valid name.
    public init?(_ url: String) {
        guard Self.isS3(url) else { return nil }
        let rest = url.dropFirst("s3://".count)
        let bucket = rest.prefix(while: { $0 != "/" })
        // S3's bucket names: 3 to 63 of a-z, 0-9, "." and "-" (which also keeps them out of the URL's syntax).
        guard (3...63).contains(bucket.utf8.count),
              bucket.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x2D })
        else { return nil }
        let parts = rest.dropFirst(bucket.count).split(separator: "/")
        // The prefix is also a folder under the local cache: nothing that climbs out of it.
        guard !parts.contains(where: { $0 == "." || $0 == ".." || $0.contains("\0") }) else { return nil }
        let prefix = parts.joined(separator: "/")
        self.bucket = String(bucket)
        self.prefix = prefix
    }

    /// The location of a bucket and prefix.
    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// The full key of `relative` (a path under the prefix, "/"-separated).
    public func key(_ relative: String) -> String { prefix.isEmpty ? relative : prefix + "/" + relative }

    /// `s3://bucket/prefix`.
    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
}

/// The endpoint, region and credentials of an S3-compatible store.
public struct S3Configuration: Sendable {
    /// The store's base URL, such as `http://127.0.0.1:7480` or `https://s3.eu-west-1.amazonaws.com`;
    /// buckets are addressed in its path (`<endpoint>/<bucket>/<key>`), which every S3 implementation takes.
    public var endpoint: String
    /// The region requests are signed for.
    public var region: String
    /// The keys requests are signed with.
    public var credentials: S3Credentials
    /// Where the credentials were found, to read them again when the store says they expired (a
    /// session token, or a shared credentials file that a tool rewrites during a long run); nil when
    /// they were given.
    public var environment: [String: String]?
    /// The most seconds one request may take, its retries and its whole answer included
    /// (`DREAMLAKE_S3_TIMEOUT`, else 120): past it the request fails, so that a store that never
    /// answers, or answers a byte at a time, holds no reader or writer longer.
    public var deadline: TimeInterval = 120

    /// A configuration from its parts.
    public init(endpoint: String, region: String, credentials: S3Credentials) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.region = region
        self.credentials = credentials
    }

    /// The credentials as the places they came from hold them now; nil when they were given, or are
    /// no longer found.
    public func currentCredentials() -> S3Credentials? {
        guard let environment else { return nil }
        return try? Self.fromEnvironment(environment).credentials
    }

    /// The configuration the AWS command-line tools and SDKs would use, from the same places:
    ///
    /// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the
    ///   profile `AWS_PROFILE` (or `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
    ///   else `~/.aws/credentials`);
    /// - region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's `region` in the config file
    ///   (`AWS_CONFIG_FILE`, else `~/.aws/config`), else `us-east-1`;
    /// - endpoint: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else the profile's `endpoint_url`,
    ///   else AWS's `https://s3.<region>.amazonaws.com`.
    ///
    /// - Throws: ``S3Error`` when no credentials are found in any of those places.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(S3Error) -> S3Configuration {
        let env = environment.filter { !$0.value.isEmpty }
        let profile = env["AWS_PROFILE"] ?? "default"
        let home = env["HOME"] ?? NSHomeDirectory()
        let credentialsFile = env["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let configFile = env["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        // The config file names a profile "profile NAME" (but "default" as itself); the credentials file "NAME".
        let config = iniSection(of: configFile, named: profile == "default" ? "default" : "profile " + profile)
        let region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? config["region"] ?? "us-east-1"
        let credentials: S3Credentials
        if let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"] {
            credentials = S3Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"])
        } else {
            let file = iniSection(of: credentialsFile, named: profile)
            guard let id = file["aws_access_key_id"], let secret = file["aws_secret_access_key"] else {
                throw S3Error(.refused, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                              + "or give profile \(profile) keys in \(credentialsFile)")
            }
            credentials = S3Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: file["aws_session_token"])
        }
        let endpoint = env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"] ?? config["endpoint_url"]
            ?? "https://s3.\(region).amazonaws.com"
        var configuration = S3Configuration(endpoint: endpoint, region: region, credentials: credentials)
        configuration.environment = environment
        if let text = env["DREAMLAKE_S3_TIMEOUT"] {
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw S3Error(.refused, "DREAMLAKE_S3_TIMEOUT is \(text); it is the most seconds an S3 request may take, above 0 and at most 86400")
            }
            configuration.deadline = seconds
        }
        return configuration
    }

    /// The `key = value` lines of `[name]` in an INI file; empty when the file or section is not there.
    /// Reads at most 1 MiB, and only a regular file (never blocks on a FIFO).
    static func iniSection(of path: String, named name: String) -> [String: String] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [:] }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              let data = try? handle.read(upToCount: 1 << 20) else { return [:] }
        var inSection = false
        var values: [String: String] = [:]
        for raw in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") && line.hasSuffix("]") {
                inSection = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces) == name
            } else if inSection, !line.hasPrefix("#"), !line.hasPrefix(";"), let eq = line.firstIndex(of: "=") {
                values[line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()] =
                    line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return values
    }
}
