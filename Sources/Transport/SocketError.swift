import Glibc
import Runtime

/// Every way a socket operation fails, with the errno where the kernel gave one.
public enum SocketError: Error, Sendable, CustomStringConvertible {
    case system(call: String, errno: Int32)
    case resolution(host: String, message: String)
    case timedOut(call: String)

    public var description: String {
        switch self {
        case let .system(call, code): return "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .resolution(host, message): return "cannot resolve \(host): \(message)"
        case let .timedOut(call): return "\(call) timed out"
        }
    }
}

/// Runs a C call that reports failure as -1 and errno, retrying on EINTR.
@discardableResult
func syscall<Result: BinaryInteger>(_ call: String, _ body: () -> Result) throws(SocketError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SocketError.system(call: call, errno: code)
    }
}

/// A resolved socket address, ready for bind/connect.
struct ResolvedAddress: Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    /// Resolves through getaddrinfo so host names (compose service names) work as well as literals.
    static func resolve(_ address: HostPort, passive: Bool) throws(SocketError) -> ResolvedAddress {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            throw SocketError.resolution(host: address.host, message: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var resolved = ResolvedAddress()
        withUnsafeMutableBytes(of: &resolved.storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        resolved.length = first.pointee.ai_addrlen
        return resolved
    }

    /// The address a socket is bound to (after binding port 0, the port the kernel chose).
    static func local(of fd: Int32) throws(SocketError) -> HostPort {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SocketError) in
                try syscall("getsockname") { getsockname(fd, address, &length) }
            }
        }
        return hostPort(of: storage)
    }

    static func hostPort(of storage: sockaddr_storage) -> HostPort {
        var storage = storage
        let family = Int32(storage.ss_family)
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
                    return HostPort(host: hostText(buffer), port: UInt16(bigEndian: address.pointee.sin6_port))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
                return HostPort(host: hostText(buffer), port: UInt16(bigEndian: address.pointee.sin_port))
            }
        }
    }
}

private func hostText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
    var value = value
    _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
}
