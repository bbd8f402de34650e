import Crypto
import Foundation
import Testing

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

@Suite struct SHA256Tests {
    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf" and the long-message vector).
    @Test(arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func matchesPublishedVectors(message: String, digest: String) {
        #expect(hex(SHA256.hash(Array(message.utf8))) == digest)
    }

    @Test func hashesAMillionAs() {
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalEqualsOneShot() {
        let data = Array((0..<1000).map { UInt8($0 % 251) })
        var hasher = SHA256()
        for chunk in stride(from: 0, to: data.count, by: 37) { hasher.update(data[chunk..<min(chunk + 37, data.count)]) }
        #expect(hasher.finalize() == SHA256.hash(data))
    }
}

@Suite struct HMACTests {
    /// RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (case 5 is truncated output).
    @Test(arguments: [
        ("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", String(repeating: "dd", count: 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("0102030405060708090a0b0c0d0e0f10111213141516171819", String(repeating: "cd", count: 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (String(repeating: "aa", count: 131), "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (String(repeating: "aa", count: 131),
         "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func matchesRFC4231(key: String, data: String, mac: String) {
        #expect(hex(HMACSHA256.authenticate(bytes(hex: data), key: bytes(hex: key))) == mac)
    }

    @Test func constantTimeEqualsComparesContentAndLength() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(!constantTimeEquals([], [0]))
    }

    /// Lengths that differ by a multiple of 256 must not compare equal when the longer one is the
    /// shorter one padded with NULs (the difference was once truncated to 8 bits).
    @Test func constantTimeEqualsKeepsTheWholeLengthDifference() {
        let expected = Array("c2lnbmF0dXJl".utf8)
        #expect(!constantTimeEquals(expected + [UInt8](repeating: 0, count: 256), expected))
        #expect(!constantTimeEquals(expected, expected + [UInt8](repeating: 0, count: 512)))
        #expect(!constantTimeEquals([UInt8](repeating: 0, count: 256), []))
    }
}

@Suite struct Base64Tests {
    /// RFC 4648 §10.
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func matchesRFC4648(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func urlSafeRoundTrip() {
        let data: [UInt8] = [0xFB, 0xFF, 0xBF, 0x00, 0x10]
        let text = Base64.encode(data, urlSafe: true)
        #expect(!text.contains("+") && !text.contains("/") && !text.contains("="))
        #expect(Base64.decode(text) == data)
    }

    @Test(arguments: ["Zg=", "Z", "Zm9v!", "Zg==Zg==", "Zg==="])
    func refusesMalformed(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

struct HMACKeyAndHexTests {
    @Test func aPreparedKeyAgreesWithHMAC() {
        for key in [Array("key".utf8), [UInt8](repeating: 0xaa, count: 131)] {
            let prepared = HMACSHA256.Key(key)
            let message = Array("The quick brown fox jumps over the lazy dog".utf8)
            #expect(prepared.authenticate(message) == HMACSHA256.authenticate(message, key: key))
            var split = [UInt8](repeating: 0, count: 32)
            message.withUnsafeBytes { whole in
                split.withUnsafeMutableBytes { digest in
                    prepared.authenticate(UnsafeRawBufferPointer(rebasing: whole[0..<10]), UnsafeRawBufferPointer(rebasing: whole[10...]), into: digest)
                }
            }
            #expect(split == HMACSHA256.authenticate(message, key: key))
        }
        // RFC 4231, test case 2.
        #expect(Hex.encode(HMACSHA256.Key(Array("Jefe".utf8)).authenticate(Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func hexRoundTripsAndRefusesNonHex() {
        #expect(Hex.encode([0x00, 0x7f, 0xff]) == "007fff")
        #expect(Hex.decode("007FfF") == [0x00, 0x7f, 0xff])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode(" 00") == nil)
    }
}

struct SHA256HardwareTests {
    /// Every length across several block boundaries, fed whole and in uneven pieces, agrees
    /// between the hardware and the portable compression (and the FIPS 180-4 vectors above).
    @Test func hardwareAndPortablePathsAgree() {
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var generator = SystemRandomNumberGenerator()
        let data = (0..<1000).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 127, 128, 129, 191, 192, 640, 999, 1000] {
            var portable = SHA256(hardware: false)
            portable.update(data[0..<length])
            var hardware = SHA256(hardware: true)
            var start = 0
            while start < length {
                let end = min(length, start + 1 + start % 97)
                hardware.update(data[start..<end])
                start = end
            }
            #expect(hardware.finalize() == portable.finalize(), "length \(length)")
        }
    }
}
