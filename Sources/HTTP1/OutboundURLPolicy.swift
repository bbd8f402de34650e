import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a tenant's URL may send our requests (webhooks): `https`, or `http` to loopback or to
/// hosts an operator allows; never to a private, link-local or otherwise internal address unless
/// its host is allowed, so a tenant cannot use us to reach our own network.
public struct OutboundURLPolicy: Sendable {
    /// Hosts (names or addresses, lower-case) allowed over plain `http` and at internal addresses.
    public var allowedHosts: Set<String>

    public init(allowedHosts: Set<String> = []) {
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
    }

    /// From a comma-separated list (`RYMI_WEBHOOK_ALLOW_HTTP_HOSTS`).
    public init(hostList: String?) {
        self.init(allowedHosts: Set((hostList ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }))
    }

    /// Why `text` may not be used, or nil when it may. Resolves the host (at most a few
    /// addresses) to check where it points.
    public func problem(_ text: String) -> String? {
        guard text.utf8.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              let host = url.host?.lowercased(), !host.isEmpty
        else { return "must be an absolute http(s) URL" }
        guard scheme == "https" || scheme == "http" else { return "must use https" }
        guard url.user == nil, url.password == nil, url.fragment == nil else { return "must not carry user information or a fragment" }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let allowed = allowedHosts.contains(bare)
        let addresses = Self.resolve(bare)
        let loopback = !addresses.isEmpty && addresses.allSatisfy(\.isLoopback)
        if scheme == "http" && !allowed && !loopback {
            return "must use https (plain http only to loopback or to hosts in RYMI_WEBHOOK_ALLOW_HTTP_HOSTS)"
        }
        guard !addresses.isEmpty else { return "its host \(bare) does not resolve" }
        if !allowed && !loopback, let inside = addresses.first(where: \.isInternal) {
            return "points at an internal address (\(inside.text)); only hosts in RYMI_WEBHOOK_ALLOW_HTTP_HOSTS may"
        }
        if !allowed && addresses.contains(where: \.isLoopback) && !loopback {
            return "points at loopback and elsewhere at once"
        }
        return nil
    }

    /// An address a host resolved to.
    public struct Address: Sendable, Equatable {
        public let bytes: [UInt8]

        public var text: String {
            bytes.count == 4 ? bytes.map(String.init).joined(separator: ".")
                : stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) }.joined(separator: ":")
        }

        /// The IPv4 form of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
        var v4: [UInt8]? {
            if bytes.count == 4 { return bytes }
            if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return Array(bytes[12...]) }
            return nil
        }

        public var isLoopback: Bool {
            if let v4 { return v4[0] == 127 }
            return bytes == [UInt8](repeating: 0, count: 15) + [1]
        }

        /// Private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10, cloud metadata among
        /// them), carrier-grade NAT, "this network", multicast and reserved ranges.
        public var isInternal: Bool {
            if let v4 {
                switch (v4[0], v4[1]) {
                case (10, _), (127, _), (0, _): return true
                case (172, 16...31), (192, 168), (169, 254), (100, 64...127), (198, 18...19): return true
                default: return v4[0] >= 224
                }
            }
            if bytes.allSatisfy({ $0 == 0 }) || isLoopback { return true }
            return bytes[0] & 0xfe == 0xfc || (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80) || bytes[0] == 0xff
        }
    }

    /// The host's addresses (a literal address is itself).
    public static func resolve(_ host: String) -> [Address] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &results) == 0, let first = results else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [Address] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor, addresses.count < 16 {
            if let socketAddress = entry.pointee.ai_addr {
                switch Int32(entry.pointee.ai_family) {
                case AF_INET:
                    let address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                    addresses.append(Address(bytes: withUnsafeBytes(of: address) { Array($0) }))
                case AF_INET6:
                    let address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    addresses.append(Address(bytes: withUnsafeBytes(of: address) { Array($0) }))
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
