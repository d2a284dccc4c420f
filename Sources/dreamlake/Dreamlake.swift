import ArgumentParser

@main
struct DreamlakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dreamlake",
        abstract: "Record, inspect and exercise dreamlake sessions.",
        subcommands: [Demo.self, Export.self, Import.self]
    )
}
