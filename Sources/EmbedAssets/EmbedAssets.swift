// Writes a Swift file that holds files as string constants: the build step
// (Plugins/EmbedViewerAssets) that embeds the viewer's page in the binary, so
// that its HTML, CSS and JavaScript are edited as the files they are.
//
// Usage: EmbedAssets OUTPUT.swift ENUM NAME=FILE...
import Foundation

/// The tool's entry point: `@main` rather than top-level code, so that it also builds where the compiler
/// takes every file as a library's (the fuzzers' build, `-sanitize=fuzzer`, whose libFuzzer brings its own `main`).
@main
enum EmbedAssets {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            FileHandle.standardError.write(Data("usage: EmbedAssets OUTPUT.swift ENUM NAME=FILE...\n".utf8))
            exit(2)
        }
        var out = "// Made by the EmbedViewerAssets build step from the files named below; edit those, not this.\n\n"
        out += "/// The files of the viewer's page, embedded in the binary.\n"
        out += "enum \(arguments[2]) {\n"
        for pair in arguments.dropFirst(3) {
            guard let equals = pair.firstIndex(of: "=") else {
                FileHandle.standardError.write(Data("EmbedAssets: \(pair) is not NAME=FILE\n".utf8))
                exit(2)
            }
            let name = String(pair[..<equals]), path = String(pair[pair.index(after: equals)...])
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                FileHandle.standardError.write(Data("EmbedAssets: cannot read \(path) as UTF-8\n".utf8))
                exit(1)
            }
            // A raw string whose delimiter no run of `#` in the text can end or escape.
            var hashes = "#"
            while text.contains("\"\"\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
            out += "    /// \(URL(fileURLWithPath: path).lastPathComponent)\n"
            out += "    static let \(name) = \(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)\n"
        }
        out += "}\n"
        do {
            // Written only when it changed, so that an unchanged page compiles nothing again.
            if FileManager.default.contents(atPath: arguments[1]) != Data(out.utf8) {
                try Data(out.utf8).write(to: URL(fileURLWithPath: arguments[1]), options: .atomic)
            }
        } catch {
            FileHandle.standardError.write(Data("EmbedAssets: cannot write \(arguments[1]): \(error)\n".utf8))
            exit(1)
        }
    }
}
