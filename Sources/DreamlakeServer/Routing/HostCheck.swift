import Dreamlake
import Glibc
import HTTPTypes
import Hummingbird

/// Which requests a server answers by their `Host` and `Origin`: the defence against DNS rebinding
/// and cross-site writes.
///
/// A web page from any site can make a browser send requests to a server on loopback (where the
/// viewer asks for no token and Python dreamlake's public secret signs tokens): once the site's
/// name re-resolves to 127.0.0.1 (DNS rebinding), its page's requests are same-origin, carry
/// `Host: that.site`, and could read every run or, with a token minted by the public secret, write.
/// So a request is answered only when its `Host` is an IP address (no name to re-resolve),
/// `localhost`, the name the server listens on, or a name the user allowed (`--allow-host`); and a
/// request that may change something (any method but GET, HEAD and OPTIONS) is refused when a
/// browser says it comes from another site (`Origin` naming another host, or `null`, which a sandboxed
/// frame or a redirect from another site sends; `Sec-Fetch-Site: cross-site`). Clients that are not
/// browsers (Python dreamlake, the command) send no `Origin`, and the viewer's page sends its own.
struct HostCheck: Sendable {
    /// Names (lowercased, without a port) answered besides IP addresses and `localhost`.
    let names: Set<String>

    private static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!  // a constant, valid header name

    /// The check for a server listening on `host`, that also answers `allowed` names.
    init(listening host: String, allowed: [String]) {
        var names = Set(allowed.map { HostCheck.hostname($0) })
        names.insert(HostCheck.hostname(host))
        self.names = names
    }

    /// Nil when `request` may be answered; else the refusal.
    func refusal(_ request: Request) -> RemoteError? {
        guard let header = request.head.authority, !header.isEmpty else {  // HTTP/1.1's Host
            return RemoteError(400, "the request has no Host header")
        }
        let host = HostCheck.hostname(header)
        guard HostCheck.isAddress(host) || host == "localhost" || names.contains(host) else {
            return RemoteError(403, "this server does not answer for the host \(Names.quoted(header)) (a page of another site "
                               + "reaching it through DNS rebinding would send that); reach it by its address, or start it "
                               + "with --allow-host \(host) to answer that name")
        }
        if request.method != .get && request.method != .head && request.method != .options {
            if let origin = request.headers[.origin], HostCheck.origin(origin) != header.lowercased() {
                return RemoteError(403, "a request from \(Names.quoted(origin)) that would change something here is refused: "
                                   + "it comes from another site than \(Names.quoted(header))")
            }
            if request.headers[HostCheck.secFetchSite] == "cross-site" {
                return RemoteError(403, "a cross-site request that would change something here is refused")
            }
        }
        return nil
    }

    /// `host` (a Host header, a URL's host) lowercased, without its port or an IPv6 address's brackets.
    static func hostname(_ host: String) -> String {
        let h = host.lowercased()
        if h.hasPrefix("[") {
            return String(h.dropFirst().prefix(while: { $0 != "]" }))
        }
        // One colon: a port; more: a bare IPv6 address.
        if h.filter({ $0 == ":" }).count == 1, let colon = h.firstIndex(of: ":") { return String(h[..<colon]) }
        return h
    }

    /// The `host[:port]` an `Origin` header names (lowercased), or nil when it names none.
    static func origin(_ origin: String) -> String? {
        guard let start = origin.range(of: "://") else { return nil }
        return String(origin[start.upperBound...].prefix(while: { $0 != "/" })).lowercased()
    }

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
