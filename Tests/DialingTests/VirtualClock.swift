/// Time for the pure dialing rules in tests: an instant is a duration since the virtual start,
/// and nothing moves it but the test.
struct VirtualInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    static let start = VirtualInstant(offset: .zero)

    func advanced(by duration: Duration) -> VirtualInstant { VirtualInstant(offset: offset + duration) }
    func duration(to other: VirtualInstant) -> Duration { other.offset - offset }
    static func < (lhs: VirtualInstant, rhs: VirtualInstant) -> Bool { lhs.offset < rhs.offset }

    var seconds: Double {
        let (whole, attoseconds) = offset.components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    var description: String { "t+\(seconds)s" }
}
