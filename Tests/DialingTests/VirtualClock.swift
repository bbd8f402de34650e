import Dialing

/// Time for the pure dialing rules in tests: the core's own instants (time since an origin),
/// moved by nothing but the test.
typealias VirtualInstant = DispatchInstant

extension DispatchInstant {
    static let start = DispatchInstant(.zero)

    var seconds: Double {
        let (whole, attoseconds) = sinceOrigin.components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
