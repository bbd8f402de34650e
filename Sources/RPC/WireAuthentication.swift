import Crypto
import Protocol

/// The handshake's arithmetic and the sealing of lines, without I/O.
///
/// Each connecting role (gateway, dialer) shares one secret with the manager. The connecting side
/// sends a fresh nonce in `hello`; the manager answers with its own nonce and a proof over both;
/// the connecting side checks it (a process that cannot prove the secret is not our manager) and
/// answers with its own proof. Every derivation covers the transcript (protocol version, role,
/// name, both nonces), so a proof is good for one connection only and the two proofs cannot stand
/// in for each other. The secret itself never crosses the wire.
///
/// From then on every line is sealed: `<32 hex digits> <envelope>`, the digits being the first
/// 16 bytes of HMAC-SHA256 under a per-direction session key over the line's sequence number
/// (counted per direction from 0) and its bytes. A line altered, injected, dropped, replayed or
/// reordered by anyone on the path fails its seal, and the connection is closed.
public enum WireAuthentication {
    public static let nonceBytes = 32
    public static let sealBytes = 16
    /// Hex digits of the seal plus the space after them.
    public static let sealPrefixBytes = sealBytes * 2 + 1
    /// Shorter secrets are accepted with a warning at start-up.
    public static let minimumSecretBytes = 16

    /// What is weak about a process's secrets, one line each, for a start-up warning: short ones,
    /// and one secret shared by two roles (each role could then act as the other).
    public static func weaknesses(_ secrets: [(variable: String, value: [UInt8])]) -> [String] {
        var found = secrets.filter { $0.value.count < minimumSecretBytes }
            .map { "\($0.variable) is shorter than \(minimumSecretBytes) characters; use e.g. openssl rand -hex 32" }
        for (index, secret) in secrets.enumerated() {
            for other in secrets[(index + 1)...] where other.value == secret.value {
                found.append("\(secret.variable) and \(other.variable) are the same: each role could act as the other")
            }
        }
        return found
    }

    public static func freshNonce() -> [UInt8] { RandomBytes.make(nonceBytes) }

    /// What both proofs and both session keys are bound to.
    public struct Transcript: Sendable {
        public let role: PeerRole
        public let name: String
        public let clientNonce: [UInt8]
        public let serverNonce: [UInt8]

        public init(role: PeerRole, name: String, clientNonce: [UInt8], serverNonce: [UInt8]) {
            self.role = role
            self.name = name
            self.clientNonce = clientNonce
            self.serverNonce = serverNonce
        }

        /// Length-prefixed fields under a label, so no two different transcripts or purposes
        /// serialize alike.
        func bytes(for purpose: String) -> [UInt8] {
            var out: [UInt8] = []
            for field in [Array("rymi-wire-\(WireProtocol.version)".utf8), Array(purpose.utf8), Array(role.rawValue.utf8),
                          Array(name.utf8), clientNonce, serverNonce] {
                let count = UInt32(field.count)
                out += [UInt8(count >> 24), UInt8(truncatingIfNeeded: count >> 16), UInt8(truncatingIfNeeded: count >> 8), UInt8(truncatingIfNeeded: count)]
                out += field
            }
            return out
        }
    }

    public static func serverProof(secret: [UInt8], _ transcript: Transcript) -> [UInt8] {
        HMACSHA256.authenticate(transcript.bytes(for: "server-proof"), key: secret)
    }

    public static func clientProof(secret: [UInt8], _ transcript: Transcript) -> [UInt8] {
        HMACSHA256.authenticate(transcript.bytes(for: "client-proof"), key: secret)
    }

    /// The two directions' keys of one connection.
    public struct SessionKeys: Sendable {
        public let clientToServer: HMACSHA256.Key
        public let serverToClient: HMACSHA256.Key
    }

    public static func sessionKeys(secret: [UInt8], _ transcript: Transcript) -> SessionKeys {
        SessionKeys(
            clientToServer: HMACSHA256.Key(HMACSHA256.authenticate(transcript.bytes(for: "client-to-server"), key: secret)),
            serverToClient: HMACSHA256.Key(HMACSHA256.authenticate(transcript.bytes(for: "server-to-client"), key: secret))
        )
    }

    /// A proof received as hex, checked in constant time.
    public static func matches(_ received: String, _ expected: [UInt8]) -> Bool {
        guard let bytes = Hex.decode(received) else { return false }
        return constantTimeEquals(bytes, expected)
    }
}

/// Seals one direction's lines, in the order they are written.
public struct LineSealer: Sendable {
    private let key: HMACSHA256.Key
    private var sequence: UInt64 = 0

    public init(key: HMACSHA256.Key) {
        self.key = key
    }

    /// The seal and its space, to be written right before `line` (whose newline, if any, the
    /// seal does not cover): the line itself is never copied.
    public mutating func prefix(for line: [UInt8]) -> [UInt8] {
        let payloadCount = line.last == 0x0A ? line.count - 1 : line.count
        defer { sequence += 1 }
        return [UInt8](unsafeUninitializedCapacity: WireAuthentication.sealPrefixBytes) { out, count in
            line.withUnsafeBytes { Self.writeSeal(key, sequence, UnsafeRawBufferPointer(rebasing: $0[0..<payloadCount]), into: out) }
            out[WireAuthentication.sealPrefixBytes - 1] = 0x20
            count = WireAuthentication.sealPrefixBytes
        }
    }

    /// The whole sealed line, newline included.
    public mutating func seal(_ line: [UInt8]) -> [UInt8] {
        prefix(for: line) + line + (line.last == 0x0A ? [] : [0x0A])
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The first `sealBytes` of HMAC(key, sequence ‖ payload), as lowercase hex.
    static func writeSeal(_ key: HMACSHA256.Key, _ sequence: UInt64, _ payload: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) {
        var counter = sequence.bigEndian
        withUnsafeTemporaryAllocation(byteCount: SHA256.digestSize, alignment: 8) { digest in
            withUnsafeBytes(of: &counter) { key.authenticate($0, payload, into: digest) }
            for index in 0..<WireAuthentication.sealBytes {
                out[2 * index] = hexDigits[Int(digest[index] >> 4)]
                out[2 * index + 1] = hexDigits[Int(digest[index] & 0x0F)]
            }
        }
    }
}

/// Checks the other direction's seals, in the order lines arrive.
public struct LineOpener: Sendable {
    private let key: HMACSHA256.Key
    private var sequence: UInt64 = 0

    public init(key: HMACSHA256.Key) {
        self.key = key
    }

    /// The envelope inside a sealed line (without its newline), or nil when the seal is wrong:
    /// then nothing more from this connection can be trusted. Seals are lowercase hex, compared
    /// digit by digit in constant time.
    public mutating func open(_ line: [UInt8]) -> ArraySlice<UInt8>? {
        let prefix = WireAuthentication.sealPrefixBytes
        guard line.count > prefix, line[prefix - 1] == 0x20 else { return nil }
        let matches = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix - 1) { expected in
            line.withUnsafeBytes { LineSealer.writeSeal(key, sequence, UnsafeRawBufferPointer(rebasing: $0[prefix...]), into: expected) }
            var difference: UInt8 = 0
            for index in 0..<prefix - 1 { difference |= line[index] ^ expected[index] }
            return difference == 0
        }
        guard matches else { return nil }
        sequence += 1
        return line[prefix...]
    }
}
