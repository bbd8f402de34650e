/// Bytes from the system's secure random source (getrandom): nonces, secrets, ids.
public enum RandomBytes {
    /// Eight bytes a draw (each draw is a system call), not one.
    public static func make(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count { withUnsafeBytes(of: generator.next()) { bytes += $0 } }
        return Array(bytes.prefix(count))
    }

    /// `count` random bytes in lowercase hex.
    public static func hex(_ count: Int) -> String { Hex.encode(make(count)) }
}
