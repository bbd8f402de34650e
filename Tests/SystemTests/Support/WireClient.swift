import Crypto
import Foundation
import Glibc
import JSON
import Protocol
import RPC

/// The manager's line protocol spoken by hand over a blocking socket, the way a hostile or a
/// well-behaved peer would: raw lines, or the handshake and sealed lines.
final class WireClient: @unchecked Sendable {
    let fd: Int32
    private var received: [UInt8] = []
    private var sealer: LineSealer?
    private var opener: LineOpener?
    private var nextID = 1

    init(port: Int, timeout: Double = 5) throws {
        fd = try HTTPClient.connect(port: port, timeout: timeout)
    }

    /// Over a socket made elsewhere, which it now owns.
    init(fd: Int32) {
        self.fd = fd
    }

    deinit { close(fd) }

    func sendRaw(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// One envelope, sealed once a session exists.
    func send(_ type: String, _ body: String, id: Int? = nil) {
        let line = Array(#"{"v":1,"id":\#(id ?? nextID),"type":"\#(type)","body":\#(body)}"#.utf8) + [0x0A]
        nextID += 1
        sendRaw(sealer == nil ? line : sealer!.seal(line))
    }

    /// The next line (opened when a session exists), or nil when the connection closed or
    /// stayed silent past the socket's timeout.
    func readLine() -> JSONValue? {
        while true {
            if let newline = received.firstIndex(of: 0x0A) {
                let line = Array(received[..<newline])
                received.removeFirst(newline + 1)
                if opener != nil {
                    guard let payload = opener!.open(line) else { return .string("bad seal") }
                    return try? JSONParser.parse(payload)
                }
                return try? JSONParser.parse(line)
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            received += buffer[0..<count]
        }
    }

    /// The first line of an HTTP answer, or nil when none came before the socket's timeout.
    func readStatusLine() -> String? {
        while true {
            if let end = received.firstIndex(of: 0x0D) { return String(decoding: received[..<end], as: UTF8.self) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            received += buffer[0..<count]
        }
    }

    /// True once the other end has closed (EOF or reset) within the socket's timeout.
    func isClosedByPeer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    struct Handshake {
        let hello: JSONValue?
        let transcript: WireAuthentication.Transcript?
        let authenticateLine: [UInt8]?
    }

    /// The whole handshake as `role` with `secret`; returns what it saw so tests can replay it.
    @discardableResult
    func handshake(role: PeerRole, secret: String, name: String = "test-peer", clientNonce: [UInt8] = WireAuthentication.freshNonce(),
                   checkManager: Bool = true) throws -> Handshake {
        send("hello", #"{"protocolVersion":1,"role":"\#(role.rawValue)","name":"\#(name)","nonce":"\#(Hex.encode(clientNonce))"}"#)
        guard let reply = readLine(), reply["type"] == .string("ok"), let nonce = reply["body"]?["nonce"]?.stringValue,
              let serverNonce = Hex.decode(nonce), let proof = reply["body"]?["proof"]?.stringValue else {
            return Handshake(hello: nil, transcript: nil, authenticateLine: nil)
        }
        let transcript = WireAuthentication.Transcript(role: role, name: name, clientNonce: clientNonce, serverNonce: serverNonce)
        let secretBytes = Array(secret.utf8)
        if checkManager, !WireAuthentication.matches(proof, WireAuthentication.serverProof(secret: secretBytes, transcript)) {
            throw TestFailure("the manager's proof does not match")
        }
        let keys = WireAuthentication.sessionKeys(secret: secretBytes, transcript)
        sealer = LineSealer(key: keys.clientToServer)
        opener = LineOpener(key: keys.serverToClient)
        let proofHex = Hex.encode(WireAuthentication.clientProof(secret: secretBytes, transcript))
        let line = Array(#"{"v":1,"id":\#(nextID),"type":"authenticate","body":{"proof":"\#(proofHex)"}}"#.utf8) + [0x0A]
        nextID += 1
        let sealed = sealer!.seal(line)
        sendRaw(sealed)
        return Handshake(hello: reply, transcript: transcript, authenticateLine: sealed)
    }
}
