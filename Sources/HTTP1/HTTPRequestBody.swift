import Foundation

/// A request body read as it arrives (`HTTPHeadVerdict.stream`): the handler iterates its pieces
/// while the rest is still coming. The connection stops reading once `highWater` bytes wait
/// unread here and reads again when the handler has taken them down to half that, so a body of
/// any size is held a piece at a time.
public final class HTTPRequestBody: AsyncSequence, @unchecked Sendable {
    public typealias Element = [UInt8]

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: HTTPRequestBody

        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    let highWater: Int
    private let lock = NSLock()
    private var pieces: [[UInt8]] = []
    private var first = 0
    private var waiting = 0
    private var ended = false
    private var failure: (any Error)?
    private var reader: CheckedContinuation<[UInt8]?, any Error>?
    private var paused = false
    /// Called, from the handler's side, when the connection may read again.
    var onDrained: (@Sendable () -> Void)?

    init(highWater: Int) {
        self.highWater = highWater
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    /// Bytes the queue holds, taken or not (what it costs in memory).
    var heldBytes: Int { lock.withLock { pieces.reduce(0) { $0 + $1.count } } }

    /// Adds a piece; true when the connection should stop reading until `onDrained`.
    func append(_ piece: [UInt8]) -> Bool {
        lock.lock()
        if let reader {
            self.reader = nil
            lock.unlock()
            reader.resume(returning: piece)
            return false
        }
        pieces.append(piece)
        waiting += piece.count
        paused = waiting > highWater
        let pause = paused
        lock.unlock()
        return pause
    }

    func finish() { end(nil) }

    func fail(_ error: any Error) { end(error) }

    private func end(_ error: (any Error)?) {
        lock.lock()
        guard !ended else {
            lock.unlock()
            return
        }
        ended = true
        failure = error
        let reader = self.reader
        self.reader = nil
        lock.unlock()
        if let error { reader?.resume(throwing: error) } else { reader?.resume(returning: nil) }
    }

    private func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if first < pieces.count {
                let piece = pieces[first]
                // Taken pieces are let go at once: a reader that never quite catches up must
                // not keep the whole body in the queue's past.
                pieces[first] = []
                first += 1
                waiting -= piece.count
                if first == pieces.count {
                    pieces.removeAll(keepingCapacity: true)
                    first = 0
                } else if first >= 64 {
                    pieces.removeFirst(first)
                    first = 0
                }
                let resume = paused && waiting <= highWater / 2
                if resume { paused = false }
                let drained = onDrained
                lock.unlock()
                continuation.resume(returning: piece)
                if resume { drained?() }
                return
            }
            if ended {
                let failure = self.failure
                lock.unlock()
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
                return
            }
            reader = continuation
            lock.unlock()
        }
    }
}
