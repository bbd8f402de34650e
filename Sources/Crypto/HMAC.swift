/// HMAC-SHA256 (RFC 2104, test vectors in RFC 4231).
public enum HMACSHA256 {
    public static func authenticate(_ message: some Sequence<UInt8>, key: some Sequence<UInt8>) -> [UInt8] {
        var keyBlock = Array(key)
        if keyBlock.count > SHA256.blockSize { keyBlock = SHA256.hash(keyBlock) }
        keyBlock += [UInt8](repeating: 0, count: SHA256.blockSize - keyBlock.count)
        var inner = SHA256()
        inner.update(keyBlock.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(keyBlock.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }
}

/// Compares two byte strings in time that depends only on their lengths, so a secret's
/// content does not leak through how long a mismatch takes to find.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    // The length difference is kept whole: truncated to a byte, lengths 256 apart (a secret
    // followed by 256 NULs) compared equal.
    var lengthDifference = lhs.count ^ rhs.count
    var difference: UInt8 = 0
    for index in 0..<max(lhs.count, rhs.count) {
        let left = index < lhs.count ? lhs[index] : 0
        let right = index < rhs.count ? rhs[index] : 0
        difference |= left ^ right
    }
    lengthDifference |= Int(difference)
    return lengthDifference == 0
}
