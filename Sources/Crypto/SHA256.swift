import CSHA256

/// SHA-256 as specified in FIPS 180-4, incremental. Whole blocks go through the processor's SHA
/// extensions where it has them (every sealed protocol line is hashed, uploads of megabytes
/// included), else through the portable compression below. State and the partial block live
/// inline, so hashing a short message allocates nothing but the digest.
public struct SHA256: Sendable {
    public static let blockSize = 64
    public static let digestSize = 32

    /// Whether this processor compresses blocks in hardware.
    public static let hardwareAvailable = rymi_sha256_hardware_available() != 0
    /// The round constants, from the C shim so both compression paths read one table.
    nonisolated(unsafe) private static let k = UnsafeBufferPointer(start: rymi_sha256_round_constants(), count: 64)

    private typealias Words = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    private typealias Block = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    private let hardware: Bool
    private var state: Words = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var pending: Block = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    private var totalLength: UInt64 = 0

    public init() {
        hardware = Self.hardwareAvailable
    }

    /// For tests: the portable path even where hardware exists, so both are checked.
    public init(hardware: Bool) {
        self.hardware = hardware && Self.hardwareAvailable
    }

    public static func hash(_ data: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.finalize()
    }

    public mutating func update(_ data: some Sequence<UInt8>) {
        let handled: Void? = data.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(data).withUnsafeBytes { update($0) } }
    }

    /// Whole blocks are compressed straight from the caller's bytes; only a tail waits.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        totalLength &+= UInt64(bytes.count)
        var offset = 0
        if pendingCount > 0 {
            let take = min(Self.blockSize - pendingCount, bytes.count)
            let start = pendingCount
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: start).copyMemory(from: base, byteCount: take) }
            pendingCount += take
            offset = take
            guard pendingCount == Self.blockSize else { return }
            let block = pending
            withUnsafeBytes(of: block) { compress($0.baseAddress!, blocks: 1) }
            pendingCount = 0
        }
        let wholeBlocks = (bytes.count - offset) / Self.blockSize
        if wholeBlocks > 0 {
            compress(base.advanced(by: offset), blocks: wholeBlocks)
            offset += wholeBlocks * Self.blockSize
        }
        let rest = bytes.count - offset
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: base.advanced(by: offset), byteCount: rest) }
            pendingCount = rest
        }
    }

    public mutating func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.digestSize) { digest, count in
            finalize(into: UnsafeMutableRawBufferPointer(digest))
            count = Self.digestSize
        }
    }

    /// Pads, compresses the last block(s) and writes the 32-byte digest to `digest`.
    public mutating func finalize(into digest: UnsafeMutableRawBufferPointer) {
        let bitLength = totalLength &* 8
        // 0x80, zeros up to 56 bytes into a block, then the length: one or two blocks' worth.
        let padding = (pendingCount < 56 ? 56 : 120) - pendingCount
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
            for index in 0..<padding + 8 { tail[index] = 0 }
            tail[0] = 0x80
            for index in 0..<8 { tail[padding + index] = UInt8(truncatingIfNeeded: bitLength >> UInt64(56 - 8 * index)) }
            update(UnsafeRawBufferPointer(start: tail.baseAddress, count: padding + 8))
        }
        withUnsafeBytes(of: state) { words in
            for index in 0..<8 {
                let word = words.load(fromByteOffset: 4 * index, as: UInt32.self)
                for byte in 0..<4 { digest[4 * index + byte] = UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * byte)) }
            }
        }
    }

    private mutating func compress(_ data: UnsafeRawPointer, blocks: Int) {
        let hardware = self.hardware
        withUnsafeMutableBytes(of: &state) { raw in
            let words = raw.baseAddress!.assumingMemoryBound(to: UInt32.self)
            if hardware {
                rymi_sha256_hardware_blocks(words, data.assumingMemoryBound(to: UInt8.self), blocks)
            } else {
                for block in 0..<blocks { Self.compressPortably(words, data.advanced(by: block * Self.blockSize)) }
            }
        }
    }

    private static func compressPortably(_ state: UnsafeMutablePointer<UInt32>, _ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            }
            for i in 16..<64 {
                let s0 = w[i - 15].rotatedRight(7) ^ w[i - 15].rotatedRight(18) ^ (w[i - 15] >> 3)
                let s1 = w[i - 2].rotatedRight(17) ^ w[i - 2].rotatedRight(19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
            let k = Self.k
            for i in 0..<64 {
                let s1 = e.rotatedRight(6) ^ e.rotatedRight(11) ^ e.rotatedRight(25)
                let choice = (e & f) ^ (~e & g)
                let t1 = h &+ s1 &+ choice &+ k[i] &+ w[i]
                let s0 = a.rotatedRight(2) ^ a.rotatedRight(13) ^ a.rotatedRight(22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ majority
                (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
            state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
        }
    }
}

extension UInt32 {
    @inline(__always) fileprivate func rotatedRight(_ count: UInt32) -> UInt32 { (self >> count) | (self << (32 - count)) }
}
