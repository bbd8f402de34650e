import Foundation
@testable import HTTP1
import Testing

/// A streamed request body's queue, without sockets.
@Suite struct HTTPRequestBodyTests {
    /// A reader that stays a couple of pieces behind for a whole upload: the queue holds those
    /// pieces, not every piece it ever held.
    @Test func aReaderThatLagsBehindKeepsTheQueueSmall() async throws {
        let body = HTTPRequestBody(highWater: 1 << 20)
        var reader = body.makeAsyncIterator()
        let piece = [UInt8](repeating: 7, count: 64 * 1024)
        _ = body.append(piece)
        _ = body.append(piece)
        var largest = 0
        for _ in 0..<1_000 {
            _ = body.append(piece)
            _ = try await reader.next()
            largest = max(largest, body.heldBytes)
        }
        #expect(largest <= 3 * piece.count, "held \(largest) bytes")
    }

    @Test func pastTheHighWaterTheConnectionIsToldToStopAndThenToGoOn() async throws {
        let drained = Counter()
        let body = HTTPRequestBody(highWater: 100)
        body.onDrained = { drained.add() }
        #expect(body.append([UInt8](repeating: 1, count: 60)) == false)
        #expect(body.append([UInt8](repeating: 1, count: 60)) == true)
        var reader = body.makeAsyncIterator()
        _ = try await reader.next()
        #expect(drained.value == 0)
        _ = try await reader.next()
        #expect(drained.value == 1)
        body.finish()
        #expect(try await reader.next() == nil)
    }

    final class Counter: @unchecked Sendable {
        private var count = 0
        private let lock = NSLock()
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }
}
