import Glibc
import Runtime

/// Blocking checks for container health commands (`--health-check`): connect to a service on
/// this host, ask, and say whether it answered well. Not for use inside a running service.
public enum HealthProbe {
    /// A listen address as seen from the same host: the wildcard becomes loopback.
    public static func local(_ address: HostPort) -> HostPort {
        address.host == "0.0.0.0" || address.host == "::" ? HostPort(host: "127.0.0.1", port: address.port) : address
    }

    /// True if `GET path` answers 200.
    public static func http(_ address: HostPort, path: String, timeout: Double = 3) -> Bool {
        guard let reply = exchange(local(address), Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8),
                                   until: { _ in false }, timeout: timeout)
        else { return false }
        return reply.starts(with: Array("HTTP/1.1 200".utf8))
    }

    private static func exchange(_ address: HostPort, _ request: [UInt8], until done: ([UInt8]) -> Bool, timeout: Double) -> [UInt8]? {
        guard let fd = try? StreamConnection.connectBlocking(to: address, timeout: timeout) else { return nil }
        defer { close(fd) }
        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EAGAIN {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return nil }
                continue
            }
            guard count > 0 else { return nil }
            sent += count
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !done(reply) {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return reply.isEmpty ? nil : reply }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0, errno == EAGAIN { continue }
            guard count > 0 else { break }
            reply += buffer[0..<count]
        }
        return reply
    }
}
