import ArgumentParser
import Glibc

@main
struct DreamlakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dreamlake",
        abstract: "Record, inspect and exercise dreamlake sessions.",
        subcommands: [Demo.self, List.self, Show.self, Cat.self, Tail.self, Export.self, Import.self, Verify.self, Bench.self, Token.self, Serve.self, UI.self]
    )

    static func main() async {
        // A parent may start us with signals blocked (the mask is inherited
        // through exec); `tail --follow` and `bench` must still stop on
        // SIGINT and SIGTERM, so start from an empty mask, as a shell would.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        await main(nil)
    }
}
