import Foundation
import Glibc

/// A connected peer's IP address (no port), compact and hashable: the key of per-address limits.
/// IPv4 and IPv6 addresses are kept apart; an IPv4-mapped IPv6 address counts as its IPv4 one.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// For IPv4 only `low` holds the address (in its low 32 bits).
    public let high: UInt64
    public let low: UInt64
    public let isIPv6: Bool

    private init(high: UInt64, low: UInt64, isIPv6: Bool) {
        self.high = high
        self.low = low
        self.isIPv6 = isIPv6
    }

    public init(ipv4: UInt32) {
        self.init(high: 0, low: UInt64(ipv4), isIPv6: false)
    }

    public init(ipv6High: UInt64, low: UInt64) {
        // ::ffff:a.b.c.d is the IPv4 peer a.b.c.d seen through a dual-stack socket.
        if ipv6High == 0, low >> 32 == 0xFFFF {
            self.init(ipv4: UInt32(truncatingIfNeeded: low))
        } else {
            self.init(high: ipv6High, low: low, isIPv6: true)
        }
    }

    /// The address in a `sockaddr_storage` from `accept`; nil for families other than IPv4/6.
    public init?(_ storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            self.init(ipv4: UInt32(bigEndian: address.sin_addr.s_addr))
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
            let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self.init(ipv6High: high, low: low)
        default:
            return nil
        }
    }

    public var description: String {
        if !isIPv6 {
            let value = UInt32(truncatingIfNeeded: low)
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        }
        let groups = (0..<4).map { String((high >> (48 - 16 * UInt64($0))) & 0xFFFF, radix: 16) }
            + (0..<4).map { String((low >> (48 - 16 * UInt64($0))) & 0xFFFF, radix: 16) }
        return groups.joined(separator: ":")
    }
}

/// Admission of connections: at most `maxTotal` open at once, and at most `maxPerAddress` from
/// any one peer address, so one client cannot take every descriptor. Pure bookkeeping (no I/O):
/// a server asks `admit` when it accepts and calls `release` once per admitted connection when it
/// closes. Thread-safe; a lock held for a dictionary update.
public final class ConnectionLimiter: @unchecked Sendable {
    public enum Verdict: Sendable, Equatable {
        case admitted
        case tooManyTotal
        case tooManyFromAddress
    }

    public let maxTotal: Int
    public let maxPerAddress: Int
    private let lock = NSLock()
    private var total = 0
    private var perAddress: [PeerAddress: Int] = [:]

    public init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = max(1, maxTotal)
        self.maxPerAddress = max(1, maxPerAddress)
    }

    /// Counts the connection in if both limits allow it. A nil address (a family we cannot
    /// key, e.g. a Unix socket) counts towards the total only.
    public func admit(_ address: PeerAddress?) -> Verdict {
        lock.withLock {
            guard total < maxTotal else { return .tooManyTotal }
            if let address {
                let count = perAddress[address, default: 0]
                guard count < maxPerAddress else { return .tooManyFromAddress }
                perAddress[address] = count + 1
            }
            total += 1
            return .admitted
        }
    }

    /// Gives back what `admit` took; call exactly once per admitted connection.
    public func release(_ address: PeerAddress?) {
        lock.withLock {
            total = max(0, total - 1)
            guard let address, let count = perAddress[address] else { return }
            if count <= 1 {
                perAddress.removeValue(forKey: address)
            } else {
                perAddress[address] = count - 1
            }
        }
    }

    public var openConnections: Int { lock.withLock { total } }

    public func openConnections(from address: PeerAddress) -> Int {
        lock.withLock { perAddress[address, default: 0] }
    }

    /// Addresses with at least one connection: the table never holds more than these.
    public var trackedAddresses: Int { lock.withLock { perAddress.count } }
}
