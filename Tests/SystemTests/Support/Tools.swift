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
        return (process.awaitExit() ?? -1, data)
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
    /// The exit status (or the signal that ended it) once the process has ended, else nil; never
    /// blocks. Asked of the kernel with `waitid(…, WNOWAIT)`, which leaves the child for
    /// Foundation to reap: Foundation's own record of the exit can come late or not at all when
    /// many children end together (a CI run stalled in `waitUntilExit()`, then on an `isRunning`
    /// that stayed true for two minutes).
    var exitStatusIfEnded: Int32? {
        var info = siginfo_t()
        if waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
           info._sifields._sigchld.si_pid == processIdentifier {
            return info._sifields._sigchld.si_status
        }
        // Already reaped (by Foundation): then its record is there.
        return isRunning ? nil : terminationStatus
    }

    /// Waits for the process to end, on the calling thread (so never on a cooperative one for
    /// long); its exit status, or nil after `timeout`.
    @discardableResult
    func awaitExit(timeout: Double = 120) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = exitStatusIfEnded { return status }
            usleep(2_000)
        }
        return nil
    }
}
