import Foundation
import Glibc

/// A blocking TCP listener on an ephemeral loopback port, for stand-ins the tests play (a fake
/// manager, a misbehaving Plivo): each accepted connection runs `serve` on a thread of its own.
final class RawListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var open = true

    init(port requested: Int = 0, serve: @escaping @Sendable (Int32) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(requested).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("listen failed: errno \(errno)")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while lock.withLock({ open }) {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                Thread.detachNewThread { serve(client) }
            }
        }
    }

    /// A port nothing listens on right now (bound, read back, released).
    static func freePort() throws -> Int {
        let listener = try RawListener { close($0) }
        defer { listener.stop() }
        return listener.port
    }

    func stop() {
        lock.withLock { open = false }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Reads one newline-terminated line from a blocking socket (nil at EOF).
    static func readLine(_ fd: Int32) -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) == 1 {
            if byte == 0x0A { return line }
            line.append(byte)
        }
        return nil
    }

    static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
