import Dispatch
import Foundation
import Glibc
import JSON
import Testing

/// The trust boundaries of the gateway's HTTP layer (issue 10), each attack against the real
/// executable over raw sockets.
@Suite(.serialized) struct HTTPTrustTests {
    static let authorization = "Authorization: Bearer \(Keys.acme)\r\n"

    // MARK: Metric labels

    @Test func metricLabelsComeFromClosedSetsWhateverClientsSend() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        // 2,000 requests with distinct long methods and paths, pipelined 200 to a connection.
        for batch in 0..<10 {
            var bytes: [UInt8] = []
            for index in 0..<200 {
                let tag = "ATTACKER\(batch)X\(index)" + String(repeating: "Q", count: 1000)
                bytes += Array("\(tag) /zz/\(tag) HTTP/1.1\r\nHost: x\r\n\(index == 199 ? "Connection: close\r\n" : "")\r\n".utf8)
            }
            let responses = try await stack.client.exchange(bytes)
            #expect(responses.count == 200)
        }
        // A known method on an unknown path, and on a known one.
        #expect(try await stack.client.request("GET", "/ATTACKER-path").status == 404)
        let metrics = try await stack.adminClient.request("GET", "/metrics", key: nil)
        #expect(metrics.status == 200)
        print("label flood: 2,000 distinct 1 KB methods and paths; /metrics \(metrics.text.utf8.count) bytes")
        #expect(!metrics.text.contains("ATTACKER"))
        #expect(metrics.text.utf8.count < 64 * 1024, "metrics grew to \(metrics.text.utf8.count) bytes")
        #expect(metrics.text.contains(#"rymi_http_requests_total{method="other",route="unmatched",status="404"} 2000"#))
        #expect(metrics.text.contains(#"rymi_http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
    }

    // MARK: The admin listener

    @Test func metricsAndReadinessDetailsAreOnlyOnTheAdminListener() async throws {
        let stack = try await Stack.start(.dialing())
        defer { stack.stop() }
        #expect(stack.adminClient.port != stack.client.port)
        // The public listener: no metrics, readiness without details.
        #expect(try await stack.client.request("GET", "/metrics", key: nil).status == 404)
        let publicReady = try await stack.client.request("GET", "/readyz", key: nil)
        #expect(publicReady.status == 200)
        #expect(publicReady.json == .object([("status", .string("ready"))]))
        // The admin listener: both, with details.
        let adminReady = try await stack.adminClient.request("GET", "/readyz", key: nil)
        #expect(adminReady.status == 200)
        #expect(adminReady.json?["dialers"]?.arrayValue?.count == 1)
        #expect(try await stack.adminClient.request("GET", "/metrics", key: nil).text.contains("rymi_http_requests_total"))
        #expect(try await stack.adminClient.request("GET", "/v1/campaigns").status == 404)
        // Unreachable manager: public readiness says only that.
        stack.killManager()
        let down = try await stack.client.request("GET", "/readyz", key: nil)
        #expect(down.status == 503)
        #expect(down.json == .object([("status", .string("unavailable"))]))
    }

    // MARK: Clients that never read

    /// Sends `bytes` until done or the peer stops taking them for `stall` seconds; returns bytes sent.
    static func sendUntilBlocked(_ fd: Int32, _ bytes: [UInt8], stall: Int) -> Int {
        var interval = timeval(tv_sec: stall, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, min(65536, bytes.count - offset), Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }
            offset += written
        }
        return offset
    }

    static let healthz = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    static func pipelined(_ count: Int) -> [UInt8] {
        var requests: [UInt8] = []
        requests.reserveCapacity(count * healthz.count)
        for _ in 0..<count { requests += healthz }
        return requests
    }

    @Test func aPipelinerThatNeverReadsCannotGrowTheGateway() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        _ = try await stack.client.request("GET", "/healthz", key: nil)
        let before = try #require(stack.gateway.residentKiB)
        let count = 400_000
        let requests = Self.pipelined(count)
        let fd = try HTTPClient.connect(port: stack.client.port, timeout: 5)
        defer { close(fd) }
        let sent = try await blocking { Self.sendUntilBlocked(fd, requests, stall: 2) }
        // Let the gateway take whatever it will.
        var peak = before
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(150))
            peak = max(peak, stack.gateway.residentKiB ?? 0)
        }
        let growth = (peak - before) / 1024
        print("never-reading pipeliner: \(sent) of \(requests.count) request bytes taken; gateway RSS \(before / 1024) MB → peak \(peak / 1024) MB")
        // Without the bound, the answers to these take 25+ MB; with it, about 2.
        #expect(growth < 10, "RSS grew by \(growth) MB")
        // Others are still served.
        #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)
    }

    @Test func aConnectionWhoseAnswersStandStillIsClosed() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_HTTP_WRITE_STALL_TIMEOUT": "1"])
        defer { stack.stop() }
        let requests = Self.pipelined(200_000)
        let fd = try HTTPClient.connect(port: stack.client.port, timeout: 5)
        defer { close(fd) }
        _ = try await blocking { Self.sendUntilBlocked(fd, requests, stall: 2) }
        try await Task.sleep(for: .seconds(2))
        // Now read: what was sent before the close may come first, then the end (or a reset).
        let ended = try await blocking { () -> Bool in
            var buffer = [UInt8](repeating: 0, count: 65536)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { return true }
                if count < 0 { return errno == ECONNRESET }
            }
            return false
        }
        #expect(ended, "the gateway kept a connection whose output stood still")
    }

    // MARK: Bodies

    /// Sends `bytes` and reads what comes back until the server closes or `timeout` passes.
    static func talk(port: Int, _ bytes: [UInt8], timeout: Int = 5) async throws -> (raw: String, closed: Bool) {
        try await blocking {
            let fd = try HTTPClient.connect(port: port, timeout: Double(timeout))
            defer { close(fd) }
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { return (String(decoding: received, as: UTF8.self), true) }
                if count < 0 { return (String(decoding: received, as: UTF8.self), errno == ECONNRESET) }
                received += buffer[0..<count]
            }
        }
    }

    @Test func keylessBodiesAreRefusedBeforeTheyAreRead() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let port = stack.client.port
        // 60 MiB announced, no key, 100-continue asked: 401 at once, no 100, connection closed.
        let expecting = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 62914560\r\nExpect: 100-continue\r\n\r\n"
        let refused = try await Self.talk(port: port, Array(expecting.utf8))
        #expect(refused.raw.hasPrefix("HTTP/1.1 401 "), "\(refused.raw.prefix(200))")
        #expect(!refused.raw.contains("100 Continue"))
        #expect(refused.raw.contains("Connection: close"))
        #expect(refused.closed)
        // Without Expect, an unknown key and a chunked body: the same, before any body byte.
        let chunked = "POST /v1/campaigns/cmp_x/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nTransfer-Encoding: chunked\r\n\r\n"
        let unknown = try await Self.talk(port: port, Array(chunked.utf8))
        #expect(unknown.raw.hasPrefix("HTTP/1.1 401 "), "\(unknown.raw.prefix(200))")
        #expect(unknown.closed)
        // A client that sends its body without waiting still reads the refusal (the gateway
        // drains what it will not read instead of resetting the connection).
        let eager = Array("POST /v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".utf8) + [UInt8](repeating: 0x20, count: 2_000_000)
        let eagerAnswer = try await stack.client.exchange(eager, timeout: 5)
        #expect(eagerAnswer.map(\.status) == [401])
        // Callbacks need no key, but may send only a small body.
        let callback = "POST /callbacks/plivo/hangup HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        let capped = try await Self.talk(port: port, Array(callback.utf8))
        #expect(capped.raw.hasPrefix("HTTP/1.1 413 "), "\(capped.raw.prefix(200))")
        // With a key, 100-continue is still offered.
        let keyed = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
        let offered = try await blocking { () -> String in
            let fd = try HTTPClient.connect(port: port, timeout: 5)
            defer { close(fd) }
            _ = Array(keyed.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            return String(decoding: buffer[0..<max(0, recv(fd, &buffer, buffer.count, 0))], as: UTF8.self)
        }
        #expect(offered.hasPrefix("HTTP/1.1 100 Continue"))
    }

    @Test func aBodyHasAnAbsoluteDeadline() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_HTTP_BODY_TIMEOUT": "1.5"])
        defer { stack.stop() }
        let port = stack.client.port
        let started = Date()
        // 100 body bytes, one every 200 ms: each read comes well within any per-read timeout,
        // the whole would take 20 s.
        let answer = try await blocking { () -> String in
            let fd = try HTTPClient.connect(port: port, timeout: 10)
            defer { close(fd) }
            let head = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: 100\r\n\r\n"
            _ = Array(head.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<100 {
                var byte: UInt8 = 0x20
                guard send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { break }
                usleep(200_000)
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 { return String(decoding: buffer[0..<count], as: UTF8.self) }
                if count == 0 { break }
            }
            return ""
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(answer.hasPrefix("HTTP/1.1 408 "), "\(answer.prefix(200))")
        #expect(elapsed < 6, "answered after \(elapsed) s")
    }

    @Test func bodiesInFlightShareOneBudget() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_HTTP_BODY_BUDGET_BYTES": "1048576"])
        defer { stack.stop() }
        let port = stack.client.port
        // One connection holds 800 KB of budget while it sends its body slowly…
        let holder = try HTTPClient.connect(port: port, timeout: 5)
        // Closed once, mid-test: a second close could hit a descriptor reused meanwhile by
        // another test's pipe or socket (and crash libdispatch watching it).
        var holderOpen = true
        defer { if holderOpen { close(holder) } }
        let head = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: 800000\r\n\r\n"
        _ = Array(head.utf8).withUnsafeBytes { send(holder, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        try await Task.sleep(for: .milliseconds(200))
        // …so another asking for 400 KB is turned away: 503, Retry-After, closed.
        let second = "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: 400000\r\n\r\n"
        let refused = try await Self.talk(port: port, Array(second.utf8))
        #expect(refused.raw.hasPrefix("HTTP/1.1 503 "), "\(refused.raw.prefix(200))")
        #expect(refused.raw.contains("Retry-After: 1"))
        #expect(refused.closed)
        // A small body still fits.
        #expect(try await stack.client.request("POST", "/v1/campaigns", json: #"{"name":"n","agent_id":"a"}"#).status == 201)
        // Once the first connection goes, its share returns.
        close(holder)
        holderOpen = false
        try await Task.sleep(for: .milliseconds(200))
        let after = try await stack.client.request("POST", "/v1/campaigns", json: #"{"name":"n","agent_id":"a"}"# + String(repeating: " ", count: 400_000))
        #expect(after.status == 201)
        // A chunked body counts as it grows: 1.5 MB of chunks cannot fit in 1 MiB.
        func chunked(_ json: String, padding: Int) -> [UInt8] {
            var bytes = Array("POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8)
            let body = Array(json.utf8) + [UInt8](repeating: 0x20, count: padding)
            for start in stride(from: 0, to: body.count, by: 50_000) {
                let piece = body[start..<min(body.count, start + 50_000)]
                bytes += Array((String(piece.count, radix: 16) + "\r\n").utf8) + piece + Array("\r\n".utf8)
            }
            return bytes + Array("0\r\n\r\n".utf8)
        }
        let tooMuch = try await stack.client.exchange(chunked(#"{"name":"n","agent_id":"a"}"#, padding: 1_500_000), timeout: 10)
        #expect(tooMuch.map(\.status) == [503])
        let fits = try await stack.client.exchange(chunked(#"{"name":"n","agent_id":"a"}"#, padding: 300_000), timeout: 10)
        #expect(fits.map(\.status) == [201])
    }

    // MARK: Half-close

    /// Sends `bytes`, shuts down the sending side, and reads until the server closes.
    static func halfClose(port: Int, _ bytes: [UInt8]) async throws -> (responses: [HTTPResult], closed: Bool) {
        let (raw, closed) = try await blocking { () -> ([UInt8], Bool) in
            let fd = try HTTPClient.connect(port: port, timeout: 5)
            defer { close(fd) }
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(fd, Int32(SHUT_WR))
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { return (received, true) }
                if count < 0 { return (received, false) }
                received += buffer[0..<count]
            }
        }
        return (try HTTPClient.parseResponses(raw), closed)
    }

    @Test func aHalfClosedClientIsAnsweredThenClosed() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let id = try await stack.createCampaign()
        let port = stack.client.port
        let single = try await Self.halfClose(port: port, Array("GET /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)\r\n".utf8))
        #expect(single.responses.map(\.status) == [200])
        #expect(single.closed)
        let pipelined = "GET /v1/campaigns/\(id) HTTP/1.1\r\nHost: x\r\n\(Self.authorization)\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)Content-Length: 27\r\n\r\n{\"name\":\"n\",\"agent_id\":\"a\"}"
            + "GET /v1/campaigns/cmp_missing HTTP/1.1\r\nHost: x\r\n\(Self.authorization)\r\n"
        let many = try await Self.halfClose(port: port, Array(pipelined.utf8))
        #expect(many.responses.map(\.status) == [200, 200, 201, 404])
        #expect(many.responses.first?.json?["id"] == .string(id))
        #expect(many.closed)
        // A partial request before the half-close can never complete: the whole ones are answered.
        let partial = try await Self.halfClose(port: port, Array("GET /v1/campaigns HTTP/1.1\r\nHost: x\r\n\(Self.authorization)\r\nGET /v1/camp".utf8))
        #expect(partial.responses.map(\.status) == [200])
        #expect(partial.closed)
    }

    // MARK: Connections per address

    /// A connection from `source` (a loopback address) to the gateway.
    static func connect(from source: String, port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, connected == 0 else {
            close(fd)
            throw TestFailure("connect from \(source) failed: errno \(errno)")
        }
        var interval = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends GET /healthz on `fd`; true if a 200 comes back.
    static func answers(_ fd: Int32) async throws -> Bool {
        try await blocking {
            _ = healthz.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 && String(decoding: buffer[0..<count], as: UTF8.self).hasPrefix("HTTP/1.1 200")
        }
    }

    @Test func oneAddressCannotHoldMoreThanItsShareOfConnections() async throws {
        let stack = try await Stack.start(gatewayEnvironment: ["RYMI_HTTP_MAX_CONNECTIONS_PER_ADDR": "5"])
        defer { stack.stop() }
        let port = stack.client.port
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        for _ in 0..<5 {
            let fd = try Self.connect(from: "127.0.0.2", port: port)
            #expect(try await Self.answers(fd))
            held.append(fd)
        }
        // The sixth from the same address is accepted and closed at once.
        let sixth = try Self.connect(from: "127.0.0.2", port: port)
        #expect(try await !Self.answers(sixth))
        close(sixth)
        // Another address is not affected.
        let other = try Self.connect(from: "127.0.0.3", port: port)
        #expect(try await Self.answers(other))
        close(other)
        // A slot freed is a slot to use again.
        close(held.removeFirst())
        try await Task.sleep(for: .milliseconds(200))
        let again = try Self.connect(from: "127.0.0.2", port: port)
        #expect(try await Self.answers(again))
        held.append(again)
    }

    // MARK: Out of descriptors

    /// CPU seconds the process has used (user + system), from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (proc(5)).
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func runningOutOfDescriptorsPausesAcceptingInsteadOfSpinning() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        let pid = stack.gateway.process.processIdentifier
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        // Room for a few more descriptors only.
        let limited = Process()
        limited.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        limited.arguments = ["--pid", String(pid), "--nofile=\(open + 8):\(open + 8)"]
        try limited.run()
        try #require(limited.awaitExit() == 0)
        var clients: [Int32] = []
        defer { clients.forEach { close($0) } }
        for _ in 0..<40 { clients.append(try HTTPClient.connect(port: stack.client.port, timeout: 5)) }
        try await Task.sleep(for: .milliseconds(300))
        let before = Self.cpuSeconds(pid)
        try await Task.sleep(for: .seconds(2))
        let used = Self.cpuSeconds(pid) - before
        print("EMFILE: gateway used \(String(format: "%.2f", used)) s of CPU in 2 s with connections waiting it cannot accept")
        #expect(used < 0.5, "the accept loop spun: \(used) s of CPU in 2 s")
        // Descriptors freed, it accepts again.
        clients.forEach { close($0) }
        clients = []
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await stack.client.request("GET", "/healthz", key: nil).status == 200)
    }

    // MARK: agent_id

    @Test func agentIDsAreRestrictedToASafeAlphabet() async throws {
        let stack = try await Stack.start()
        defer { stack.stop() }
        for bad in ["agent_1,campaign_id=cmp_other", "a=b", "agent 1", #"agent\"1"#, "agent<1>", "agént", String(repeating: "a", count: 129)] {
            let body = JSONValue.object([("name", .string("n")), ("agent_id", .string(bad))]).jsonText
            let response = try await stack.client.request("POST", "/v1/campaigns", json: body)
            #expect(response.status == 422, "\(bad)")
            #expect(response.errorCode == "validation_failed")
            #expect(response.json?["error"]?["details"]?.arrayValue?.contains { $0["field"] == .string("agent_id") } == true, "\(bad): \(response.text)")
        }
        let good = try await stack.createCampaign(agentID: "team.eu:agent-7_b@v2")
        #expect(try await stack.campaign(good)["agent_id"] == .string("team.eu:agent-7_b@v2"))
        let update = try await stack.client.request("PUT", "/v1/campaigns/\(good)", json: #"{"agent_id":"x,contact_id=ct_1"}"#)
        #expect(update.status == 422)
    }
}

/// Runs blocking socket work on a Dispatch queue, off the cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
