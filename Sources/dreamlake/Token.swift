import ArgumentParser
import Dreamlake
import Foundation

/// `dreamlake token --user NAME`: a bearer token for remote sessions (`api_key=`).
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an HS256 token for a user, for a remote session's api_key.",
        discussion: """
        The token carries userId, userName, iat and exp, as Python dreamlake's client makes them, and is signed \
        with the secret a server verifies with: --secret, else $DREAMLAKE_JWT_SECRET.
        """)

    @Option(help: "The user the token names.")
    var user: String

    @Option(help: "The signing secret (default: $DREAMLAKE_JWT_SECRET).")
    var secret: String?

    @Option(help: "How many days the token is valid.")
    var days: Int = 30

    func validate() throws {
        guard !user.isEmpty else { throw ValidationError("--user must not be empty") }
        guard days > 0 else { throw ValidationError("--days must be positive") }
    }

    func run() throws {
        try reportingErrors {
            guard let secret = secret ?? ProcessInfo.processInfo.environment["DREAMLAKE_JWT_SECRET"], !secret.isEmpty else {
                throw DreamlakeError(.invalidInput, "no signing secret: give --secret, or set DREAMLAKE_JWT_SECRET to the server's")
            }
            print(RemoteToken.mint(userName: user, secret: secret, lifetime: Int64(days) * 24 * 3600))
        }
    }
}
