import Foundation

/// Runs a tool from PATH (python3, node, curl) and returns its exit status and its output
/// (standard error too, unless `separateErrors`). The wait happens on a thread of its own, so
/// the tests' cooperative threads (two on this box) are never blocked by a tool.
func runTool(_ arguments: [String], separateErrors: Bool = false) async throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    if !separateErrors { process.standardError = output }
    try process.run()
    return try await onOwnThread {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.awaitExit()
        return (process.terminationStatus, data)
    }
}

/// Runs blocking work (a tool's wait, a blocking socket) on a thread of its own, never on one of
/// the tests' cooperative threads (two on this box), which a blocked call would take from every suite.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

extension Process {
    /// Waits for the process to end by watching `isRunning`. Never `waitUntilExit()`: it spins a
    /// run loop that can miss its wake-up and wait forever (two CI runs stalled in it, both
    /// cooperative threads blocked in a test's `defer`).
    func awaitExit(timeout: Double = 120) {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning, Date() < deadline { usleep(2_000) }
    }
}
