import Foundation
import Glibc
import Testing
import Transport

@Suite struct EventLoopTests {
    /// `niceness` lowers the loop's own thread only: work that may wait (webhook deliveries) gives
    /// way to the rest of the process when the CPU is short, and nothing else slows down.
    @Test func aLoopsNicenessIsItsThreadsAlone() async {
        func niceness() -> Int32 {
            errno = 0
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        }
        let mine = niceness()
        let loop = EventLoop(name: "rymi.test.nice", niceness: 7)
        let onLoop = await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: niceness()) } }
        #expect(onLoop == min(mine + 7, 19))
        #expect(niceness() == mine)
        let plain = EventLoop(name: "rymi.test.plain")
        #expect(await withCheckedContinuation { continuation in plain.execute { continuation.resume(returning: niceness()) } } == mine)
    }
}
