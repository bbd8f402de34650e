import Dialing
import Testing

/// A campaign's queue of pending contacts, loaded in batches as it runs low.
struct ContactQueueTests {
    typealias Queue = ContactQueue<Int64>

    /// Feeds `queue` from `pending` (positions in upload order) the way the dispatcher does.
    static func load(_ queue: inout Queue, from pending: [Int64], batch: Int, lowWater: Int, keep: (Int64) -> Bool = { _ in true }) -> Bool {
        guard let request = queue.loadIfLow(lowWater: lowWater) else { return false }
        let rows = Array(pending.filter { $0 > request.after }.prefix(batch))
        return queue.loaded(rows, by: request, lastPosition: rows.last, batchLimit: batch, keep: keep)
    }

    @Test func loadsInBatchesInOrderUntilExhausted() {
        var queue = Queue()
        let pending = Array(Int64(1)...10)
        var popped: [Int64] = []
        while true {
            _ = Self.load(&queue, from: pending, batch: 4, lowWater: 2)
            guard let next = queue.pop() else { break }
            popped.append(next)
        }
        #expect(popped == pending)
        #expect(queue.exhausted)
        #expect(queue.loadIfLow(lowWater: 2) == nil, "nothing more to load")
    }

    @Test func oneLoadAtATimeAndOnlyWhenLow() {
        var queue = Queue()
        let first = queue.loadIfLow(lowWater: 2)
        #expect(first != nil)
        #expect(queue.loadIfLow(lowWater: 2) == nil, "one is already running")
        queue.loaded([1, 2, 3], by: first!, lastPosition: 3, batchLimit: 3) { _ in true }
        #expect(!queue.exhausted, "a full batch: there may be more")
        #expect(queue.loadIfLow(lowWater: 2) == nil, "three queued, not low")
    }

    @Test func aLoadThatStartedBeforeAnUploadCannotDeclareTheEnd() {
        var queue = Queue()
        let request = queue.loadIfLow(lowWater: 1)!
        queue.contactsAdded()
        queue.loaded([1], by: request, lastPosition: 1, batchLimit: 10) { _ in true }
        #expect(!queue.exhausted, "the upload may have added rows after the load read")
        let next = queue.loadIfLow(lowWater: 5)
        #expect(next?.after == 1)
    }

    @Test func aRewindMakesARunningLoadStaleAndStartsOver() {
        var queue = Queue()
        let first = queue.loadIfLow(lowWater: 1)!
        queue.loaded([1, 2], by: first, lastPosition: 2, batchLimit: 2) { _ in true }
        let second = queue.loadIfLow(lowWater: 5)!
        #expect(second.after == 2)
        queue.rewind()
        #expect(!queue.loaded([3, 4], by: second, lastPosition: 4, batchLimit: 2) { _ in true }, "stale: loaded from before the rewind")
        #expect(queue.count == 2)
        #expect(queue.loadIfLow(lowWater: 5)?.after == 0, "everything pending is eligible again")
    }

    @Test func contactsInFlightAreNotQueuedTwiceAndPushedBackOnesComeFirst() {
        var queue = Queue()
        let request = queue.loadIfLow(lowWater: 1)!
        queue.loaded([1, 2, 3], by: request, lastPosition: 3, batchLimit: 10) { $0 != 2 }
        #expect(queue.pop() == 1)
        queue.pushFront(1)
        queue.pushFront(9)
        #expect([queue.pop(), queue.pop(), queue.pop(), queue.pop()] == [9, 1, 3, nil])
    }

    @Test func anAbandonedLoadFreesTheQueueForTheNext() {
        var queue = Queue()
        let request = queue.loadIfLow(lowWater: 1)!
        queue.abandon(request)
        #expect(!queue.exhausted)
        #expect(queue.loadIfLow(lowWater: 1) != nil)
    }

    @Test func aLongQueueCompactsWithoutLosingOrder() {
        var queue = Queue()
        let request = queue.loadIfLow(lowWater: 1)!
        queue.loaded(Array(1...5000), by: request, lastPosition: 5000, batchLimit: 10_000) { _ in true }
        var popped: [Int64] = []
        while let next = queue.pop() { popped.append(next) }
        #expect(popped == Array(1...5000))
    }
}
