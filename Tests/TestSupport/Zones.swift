import Foundation

/// A fixed-offset zone (`Etc/GMT±N`) where the local hour is `hour` now: callees there are inside
/// a calling window at that hour whatever time the suite runs.
public func zoneWhereItIsNow(hour: Int) -> String {
    var utc = Calendar(identifier: .gregorian)
    utc.timeZone = TimeZone(identifier: "UTC")!
    var offset = hour - utc.component(.hour, from: Date())
    if offset > 14 { offset -= 24 }
    if offset < -12 { offset += 24 }
    // Etc/GMT's signs are POSIX's: Etc/GMT-5 is five hours ahead of UTC.
    return offset == 0 ? "Etc/GMT" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
}

/// Where it is about noon now: inside any calling window, the TCPA's 08:00-21:00 included.
public let middayZone = zoneWhereItIsNow(hour: 12)
