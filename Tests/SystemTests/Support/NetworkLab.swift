import Foundation
import Glibc

/// Hosts on a private test network made of Linux network namespaces: one namespace per host,
/// each joined by a veth pair to a bridge in a "switch" namespace, and the test process itself
/// on the same bridge. Nothing leaves the machine; `destroy()` removes every piece.
final class NetworkLab: @unchecked Sendable {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    let id: String
    let subnet: String
    private var namespaces: [String] = []
    private var hostAddresses: [String: String] = [:]
    private var created: [String] = []

    /// Whether this machine lets us build namespaces (root, iproute2 present, kernel support).
    static let available: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return false }
        let probe = "rymiprobe\(getpid())"
        defer { _ = try? run([ip, "netns", "del", probe]) }
        return (try? run([ip, "netns", "add", probe])) != nil
    }()

    init() throws {
        id = "r\(getpid() % 100_000)"
        subnet = "10.213.\(Int.random(in: 1...250))"
        let switchNamespace = "\(id)-sw"
        try add(namespace: switchNamespace)
        try Self.run([Self.ip, "-n", switchNamespace, "link", "add", "br0", "type", "bridge"])
        try Self.run([Self.ip, "-n", switchNamespace, "link", "set", "br0", "up"])
        // The test process joins the network as .1 through a veth pair in the root namespace.
        let rootSide = "\(id)-h"
        try Self.run([Self.ip, "link", "add", rootSide, "type", "veth", "peer", "name", "\(id)-hs"])
        created.append(rootSide)
        try Self.run([Self.ip, "link", "set", "\(id)-hs", "netns", switchNamespace])
        try Self.run([Self.ip, "-n", switchNamespace, "link", "set", "\(id)-hs", "master", "br0", "up"])
        try Self.run([Self.ip, "addr", "add", "\(subnet).1/24", "dev", rootSide])
        try Self.run([Self.ip, "link", "set", rootSide, "up"])
    }

    private func add(namespace: String) throws {
        try Self.run([Self.ip, "netns", "add", namespace])
        namespaces.append(namespace)
        try Self.run([Self.ip, "-n", namespace, "link", "set", "lo", "up"])
    }

    /// Adds host `name` at `.octet` and returns its namespace and address.
    @discardableResult
    func addHost(_ name: String, octet: Int) throws -> (namespace: String, address: String) {
        let namespace = "\(id)-\(name)"
        let address = "\(subnet).\(octet)"
        try add(namespace: namespace)
        let hostSide = "\(id)\(name)"
        let switchSide = "\(id)\(name)s"
        try Self.run([Self.ip, "link", "add", hostSide, "type", "veth", "peer", "name", switchSide])
        try Self.run([Self.ip, "link", "set", hostSide, "netns", namespace])
        try Self.run([Self.ip, "link", "set", switchSide, "netns", "\(id)-sw"])
        try Self.run([Self.ip, "-n", "\(id)-sw", "link", "set", switchSide, "master", "br0", "up"])
        try Self.run([Self.ip, "-n", namespace, "addr", "add", "\(address)/24", "dev", hostSide])
        try Self.run([Self.ip, "-n", namespace, "link", "set", hostSide, "up"])
        hostAddresses[name] = address
        return (namespace, address)
    }

    /// Unplugs (or plugs back) a host's cable at the switch: no reset, packets just vanish.
    func setLink(_ name: String, up: Bool) throws {
        try Self.run([Self.ip, "-n", "\(id)-sw", "link", "set", "\(id)\(name)s", up ? "up" : "down"])
    }

    func namespace(_ name: String) -> String { "\(id)-\(name)" }

    func destroy() {
        for namespace in namespaces.reversed() {
            // Anything still running in a host namespace goes with it.
            if let pids = try? Self.run([Self.ip, "netns", "pids", namespace]) {
                for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            _ = try? Self.run([Self.ip, "netns", "del", namespace])
        }
        for link in created { _ = try? Self.run([Self.ip, "link", "del", link]) }
        namespaces = []
        created = []
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let status = process.awaitExit()
        let text = String(decoding: data, as: UTF8.self)
        guard status == 0 else { throw TestFailure("\(arguments.joined(separator: " ")): \(text)") }
        return text
    }
}
