import Crypto
import Protocol
import RPC
import Testing

/// The handshake's proofs and the line seals, without sockets.
struct WireAuthenticationTests {
    let secret = Array("gateway-secret-0123456789abcdef".utf8)
    let transcript = WireAuthentication.Transcript(role: .gateway, name: "gw-1", clientNonce: [UInt8](repeating: 1, count: 32),
                                                   serverNonce: [UInt8](repeating: 2, count: 32))

    @Test func proofsDependOnTheSecretTheRoleTheNameAndBothNonces() {
        let proof = WireAuthentication.clientProof(secret: secret, transcript)
        #expect(proof.count == 32)
        #expect(proof == WireAuthentication.clientProof(secret: secret, transcript))
        #expect(proof != WireAuthentication.serverProof(secret: secret, transcript), "the manager's proof cannot stand in for a client's")
        #expect(proof != WireAuthentication.clientProof(secret: Array("another-secret-0123456789abcdef".utf8), transcript))
        let variants = [
            WireAuthentication.Transcript(role: .dialer, name: "gw-1", clientNonce: transcript.clientNonce, serverNonce: transcript.serverNonce),
            WireAuthentication.Transcript(role: .gateway, name: "gw-2", clientNonce: transcript.clientNonce, serverNonce: transcript.serverNonce),
            WireAuthentication.Transcript(role: .gateway, name: "gw-1", clientNonce: [UInt8](repeating: 3, count: 32), serverNonce: transcript.serverNonce),
            WireAuthentication.Transcript(role: .gateway, name: "gw-1", clientNonce: transcript.clientNonce, serverNonce: [UInt8](repeating: 3, count: 32)),
        ]
        for variant in variants { #expect(WireAuthentication.clientProof(secret: secret, variant) != proof) }
    }

    @Test func matchesReadsHexAndComparesWholeProofs() {
        let proof = WireAuthentication.serverProof(secret: secret, transcript)
        #expect(WireAuthentication.matches(Hex.encode(proof), proof))
        #expect(WireAuthentication.matches(Hex.encode(proof).uppercased(), proof))
        #expect(!WireAuthentication.matches(String(Hex.encode(proof).dropLast(2)), proof))
        #expect(!WireAuthentication.matches(Hex.encode(proof) + "00", proof))
        #expect(!WireAuthentication.matches("zz" + String(Hex.encode(proof).dropFirst(2)), proof))
        #expect(!WireAuthentication.matches("", proof))
    }

    @Test func noncesAreFreshAndFullLength() {
        let nonces = (0..<100).map { _ in WireAuthentication.freshNonce() }
        #expect(nonces.allSatisfy { $0.count == WireAuthentication.nonceBytes })
        #expect(Set(nonces.map(Hex.encode)).count == 100)
    }

    func pair() -> (LineSealer, LineOpener) {
        let keys = WireAuthentication.sessionKeys(secret: secret, transcript)
        return (LineSealer(key: keys.clientToServer), LineOpener(key: keys.clientToServer))
    }

    func withoutNewline(_ line: [UInt8]) -> [UInt8] { Array(line.dropLast()) }

    @Test func sealedLinesOpenInOrder() {
        var (sealer, opener) = pair()
        for text in [#"{"a":1}"#, #"{"b":2}"#, ""] {
            let sealed = sealer.seal(Array(text.utf8) + [0x0A])
            #expect(sealed.last == 0x0A)
            #expect(sealed.count == WireAuthentication.sealPrefixBytes + text.utf8.count + 1)
            if text.isEmpty {
                #expect(opener.open(withoutNewline(sealed)) == nil, "an empty envelope is never valid")
            } else {
                #expect(opener.open(withoutNewline(sealed)).map(Array.init) == Array(text.utf8))
            }
        }
    }

    @Test func alteredReplayedReorderedOrForeignLinesFail() {
        var (sealer, _) = pair()
        let first = withoutNewline(sealer.seal(Array(#"{"account":"acme"}"#.utf8) + [0x0A]))
        let second = withoutNewline(sealer.seal(Array(#"{"account":"acme","n":2}"#.utf8) + [0x0A]))

        var altered = first
        altered[altered.count - 3] ^= 0x01
        var opener = pair().1
        #expect(opener.open(altered) == nil)

        opener = pair().1
        #expect(opener.open(second) == nil, "a line out of order fails")

        opener = pair().1
        #expect(opener.open(first) != nil)
        #expect(opener.open(first) == nil, "a replayed line fails")
        #expect(opener.open(second) != nil)

        let otherDirection = WireAuthentication.sessionKeys(secret: secret, transcript).serverToClient
        var foreign = LineOpener(key: otherDirection)
        #expect(foreign.open(first) == nil, "a line reflected back in the other direction fails")

        var truncated = pair().1
        #expect(truncated.open(Array(first.prefix(WireAuthentication.sealPrefixBytes))) == nil)
        #expect(truncated.open(Array(#"{"v":1}"#.utf8)) == nil, "an unsealed line fails")
    }
}

struct SecretWeaknessTests {
    @Test func shortAndSharedSecretsAreNamed() {
        let strong = Array("gateway-secret-0123456789abcdef".utf8)
        #expect(WireAuthentication.weaknesses([("A", strong), ("B", Array("dialer-secret-0123456789abcdef".utf8))]).isEmpty)
        #expect(WireAuthentication.weaknesses([("A", Array("short".utf8))]) == ["A is shorter than 16 characters; use e.g. openssl rand -hex 32"])
        #expect(WireAuthentication.weaknesses([("A", strong), ("B", strong)]) == ["A and B are the same: each role could act as the other"])
    }
}
