/// The dialers the manager offers calls to, and which one gets the next offer: the one with the
/// most free slots; among equals, the one that waited longest; never one that is full or
/// suspended (it let an offer lapse, so it may be cut off or stalled).
///
/// Each registration gets a new id: a reconnecting dialer is a new member, and nothing owed to
/// the old connection counts against the new one.
public struct DialerPool<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias ID = Int

    public struct Member: Sendable, Equatable {
        public let name: String
        public let slots: Int
        /// Offers made and placements begun that have not been settled yet.
        public fileprivate(set) var outstanding = 0
        /// When it last got an offer (a count, not a time), to take turns among equals.
        fileprivate var lastOffer = 0
        public fileprivate(set) var suspendedUntil: Instant?

        public var free: Int { slots - outstanding }
    }

    public private(set) var members: [ID: Member] = [:]
    private var registrations = 0
    private var offers = 0

    public init() {}

    public var count: Int { members.count }
    public var names: [String] { members.values.map(\.name).sorted() }
    public subscript(id: ID) -> Member? { members[id] }

    public mutating func add(name: String, slots: Int) -> ID {
        registrations += 1
        members[registrations] = Member(name: name, slots: max(1, slots))
        return registrations
    }

    @discardableResult
    public mutating func remove(_ id: ID) -> Member? { members.removeValue(forKey: id) }

    /// Who gets the next offer at `now`, if anyone can take one.
    public func freest(now: Instant) -> ID? {
        members.filter { $0.value.free > 0 && ($0.value.suspendedUntil.map { $0 <= now } ?? true) }.max { a, b in
            a.value.free == b.value.free ? a.value.lastOffer > b.value.lastOffer : a.value.free < b.value.free
        }?.key
    }

    public mutating func offered(to id: ID) {
        guard members[id] != nil else { return }
        offers += 1
        members[id]!.outstanding += 1
        members[id]!.lastOffer = offers
    }

    /// An offer withdrawn or a placement reported: its slot is free again.
    public mutating func settled(_ id: ID) {
        members[id]?.outstanding -= 1
    }

    /// Passes `id` over until `until`; true when it was not suspended already (worth a log line).
    @discardableResult
    public mutating func suspend(_ id: ID, until: Instant, now: Instant) -> Bool {
        guard let member = members[id] else { return false }
        members[id]!.suspendedUntil = until
        return member.suspendedUntil.map { $0 < now } ?? true
    }
}
