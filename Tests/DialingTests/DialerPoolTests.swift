import Dialing
import Testing

/// Who gets the next offer.
struct DialerPoolTests {
    typealias Pool = DialerPool<VirtualInstant>
    let now = VirtualInstant.start

    @Test func theFreestDialerGetsTheOfferAndEqualsTakeTurns() {
        var pool = Pool()
        let a = pool.add(name: "a", slots: 2)
        let b = pool.add(name: "b", slots: 2)
        var order: [Pool.ID] = []
        for _ in 0..<4 {
            let next = pool.freest(now: now)!
            order.append(next)
            pool.offered(to: next)
        }
        // Equal: the one that waited longest goes first, then they alternate.
        #expect(Set(order.prefix(2)) == [a, b])
        #expect(order[2] == order[0] && order[3] == order[1])
        #expect(pool.freest(now: now) == nil, "both full")
        pool.settled(b)
        #expect(pool.freest(now: now) == b)
    }

    @Test func moreFreeSlotsWin() {
        var pool = Pool()
        let small = pool.add(name: "small", slots: 1)
        let big = pool.add(name: "big", slots: 8)
        #expect(pool.freest(now: now) == big)
        for _ in 0..<7 { pool.offered(to: big) }
        // Both have one free slot: the one that has waited longest (never offered) goes.
        #expect(pool.freest(now: now) == small)
    }

    @Test func aSuspendedDialerIsPassedOverUntilItsTime() {
        var pool = Pool()
        let a = pool.add(name: "a", slots: 4)
        let b = pool.add(name: "b", slots: 1)
        let until = now.advanced(by: .seconds(5))
        let newly = pool.suspend(a, until: until, now: now)
        let again = pool.suspend(a, until: until, now: now.advanced(by: .seconds(1)))
        #expect(newly, "newly suspended")
        #expect(!again, "already suspended")
        #expect(pool.freest(now: now.advanced(by: .seconds(4))) == b)
        #expect(pool.freest(now: until) == a)
        let afterItEnded = pool.suspend(a, until: until.advanced(by: .seconds(5)), now: until.advanced(by: .seconds(1)))
        #expect(afterItEnded, "its suspension had ended")
    }

    @Test func aReconnectingDialerIsANewMemberOwingNothing() {
        var pool = Pool()
        let first = pool.add(name: "d1", slots: 1)
        pool.offered(to: first)
        #expect(pool.freest(now: now) == nil)
        let removed = pool.remove(first)
        #expect(removed?.outstanding == 1)
        let again = pool.add(name: "d1", slots: 1)
        #expect(again != first)
        #expect(pool.freest(now: now) == again)
        pool.settled(first)
        pool.offered(to: first)
        #expect(pool[again]?.outstanding == 0, "what the old connection owed is not counted against the new one")
        #expect(pool.names == ["d1"])
    }

    @Test func atLeastOneSlot() {
        var pool = Pool()
        let id = pool.add(name: "zero", slots: 0)
        #expect(pool[id]?.slots == 1)
    }
}
