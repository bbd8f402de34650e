import Foundation

/// Runs a tool from PATH (python3, node, curl) and returns its exit status and its output
/// (standard error too, unless `separateErrors`).
func runTool(_ arguments: [String], separateErrors: Bool = false) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    if !separateErrors { process.standardError = output }
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
}
