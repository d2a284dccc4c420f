import Foundation
import PackagePlugin

/// Embeds the viewer's page (`Viewer/Assets/index.html`, `app.css`, `app.js` of the target) in the
/// binary as `ViewerAssets`: one binary serves it, with nothing fetched from elsewhere, while the
/// page is edited as the HTML, CSS and JavaScript files it is.
@main struct EmbedViewerAssets: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let assets = target.directoryURL.appending(path: "Viewer").appending(path: "Assets")
        let files = [("indexHTML", "index.html"), ("appCSS", "app.css"), ("appJS", "app.js")]
        let inputs = files.map { assets.appending(path: $0.1) }
        let output = context.pluginWorkDirectoryURL.appending(path: "ViewerAssets.swift")
        return [.buildCommand(displayName: "Embedding the viewer's page",
                              executable: try context.tool(named: "EmbedAssets").url,
                              arguments: [output.path, "ViewerAssets"] + zip(files, inputs).map { "\($0.0)=\($1.path)" },
                              inputFiles: inputs, outputFiles: [output])]
    }
}
