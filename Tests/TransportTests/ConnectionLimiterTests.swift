import Testing
import Transport

/// Per-address and total admission, without sockets.
@Suite struct ConnectionLimiterTests {
    let a = PeerAddress(ipv4: 0x7F00_0002)
    let b = PeerAddress(ipv4: 0x7F00_0003)

    @Test func capsEachAddressAndLeavesOthersAlone() {
        let limiter = ConnectionLimiter(maxTotal: 100, maxPerAddress: 3)
        #expect((0..<3).map { _ in limiter.admit(a) } == Array(repeating: .admitted, count: 3))
        #expect(limiter.admit(a) == .tooManyFromAddress)
        #expect(limiter.admit(b) == .admitted)
        #expect(limiter.openConnections(from: a) == 3)
        #expect(limiter.openConnections == 4)
        limiter.release(a)
        #expect(limiter.admit(a) == .admitted)
        #expect(limiter.admit(a) == .tooManyFromAddress)
    }

    @Test func capsTheTotalAndCountsAddresslessPeersInIt() {
        let limiter = ConnectionLimiter(maxTotal: 3, maxPerAddress: 10)
        #expect(limiter.admit(a) == .admitted)
        #expect(limiter.admit(nil) == .admitted)
        #expect(limiter.admit(b) == .admitted)
        #expect(limiter.admit(b) == .tooManyTotal)
        #expect(limiter.admit(nil) == .tooManyTotal)
        limiter.release(nil)
        #expect(limiter.admit(b) == .admitted)
        // A refused admission takes nothing.
        #expect(limiter.openConnections == 3)
    }

    @Test func forgetsAddressesWithNoConnections() {
        let limiter = ConnectionLimiter(maxTotal: 10_000, maxPerAddress: 2)
        for value in 0..<1000 {
            let address = PeerAddress(ipv4: UInt32(value))
            #expect(limiter.admit(address) == .admitted)
            limiter.release(address)
        }
        #expect(limiter.trackedAddresses == 0)
        #expect(limiter.openConnections == 0)
        // A stray release never goes below zero or lets an address exceed its cap.
        limiter.release(a)
        #expect(limiter.admit(a) == .admitted && limiter.admit(a) == .admitted && limiter.admit(a) == .tooManyFromAddress)
    }

    @Test func anIPv4MappedIPv6PeerCountsAsItsIPv4Address() {
        let mapped = PeerAddress(ipv6High: 0, low: 0x0000_FFFF_7F00_0002)
        #expect(mapped == a)
        #expect(mapped.description == "127.0.0.2")
        let v6 = PeerAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1)
        #expect(v6 != a && v6.isIPv6)
        #expect(v6.description == "2001:db8:0:0:0:0:0:1")
        let limiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 1)
        #expect(limiter.admit(a) == .admitted)
        #expect(limiter.admit(mapped) == .tooManyFromAddress)
        #expect(limiter.admit(v6) == .admitted)
    }
}
