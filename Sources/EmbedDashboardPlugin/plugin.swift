import Foundation
import PackagePlugin

/// Embeds the dashboard's files (`Sources/Gateway/Dashboard`) in the gateway at build time, so the
/// executable is all a deployment needs and the files are the one copy in the tree.
@main
struct EmbedDashboard: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let directory = target.directoryURL.appending(path: "Dashboard")
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "DashboardAssets.swift")
        return [.buildCommand(
            displayName: "Embedding the dashboard in \(target.name)",
            executable: try context.tool(named: "rymi-embed").url,
            arguments: [output.path] + files.map(\.path),
            inputFiles: files,
            outputFiles: [output]
        )]
    }
}
