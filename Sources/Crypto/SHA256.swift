import CSHA256

/// SHA-256 as specified in FIPS 180-4, incremental. Whole blocks go through the processor's SHA
/// extensions where it has them (every sealed protocol line is hashed, uploads of megabytes
/// included), else through the portable compression below.
public struct SHA256: Sendable {
    /// Whether this processor compresses blocks in hardware.
    public static let hardwareAvailable = rymi_sha256_hardware_available() != 0
    private let hardware: Bool
    public static let blockSize = 64
    public static let digestSize = 32

    /// The round constants, from the C shim so both compression paths read one table.
    nonisolated(unsafe) private static let k = UnsafeBufferPointer(start: rymi_sha256_round_constants(), count: 64)

    private var state: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var pending: [UInt8] = []
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
        if handled == nil { update(Array(data)) }
    }

    /// Whole blocks are compressed straight from the caller's bytes; only a tail waits.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        totalLength &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(Self.blockSize - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == Self.blockSize else { return }
            pending.withUnsafeBytes { compressOne($0) }
            pending.removeAll(keepingCapacity: true)
        }
        let wholeBlocks = (bytes.count - offset) / Self.blockSize
        if hardware, wholeBlocks > 0 {
            state.withUnsafeMutableBufferPointer { words in
                rymi_sha256_hardware_blocks(words.baseAddress!, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), wholeBlocks)
            }
            offset += wholeBlocks * Self.blockSize
        }
        while bytes.count - offset >= Self.blockSize {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Self.blockSize]))
            offset += Self.blockSize
        }
        pending.append(contentsOf: bytes[offset...])
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = totalLength &* 8
        pending.append(0x80)
        while pending.count % Self.blockSize != 56 { pending.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { pending.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        pending.withUnsafeBytes { padded in
            for start in stride(from: 0, to: padded.count, by: Self.blockSize) {
                compressOne(UnsafeRawBufferPointer(rebasing: padded[start..<start + Self.blockSize]))
            }
        }
        pending.removeAll()
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * $0)) } }
    }

    private mutating func compressOne(_ block: UnsafeRawBufferPointer) {
        guard hardware else { return compress(block) }
        state.withUnsafeMutableBufferPointer { words in
            rymi_sha256_hardware_blocks(words.baseAddress!, block.baseAddress!.assumingMemoryBound(to: UInt8.self), 1)
        }
    }

    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(block[4 * i]) << 24 | UInt32(block[4 * i + 1]) << 16 | UInt32(block[4 * i + 2]) << 8 | UInt32(block[4 * i + 3])
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
