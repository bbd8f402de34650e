/// A running campaign's pending contacts, loaded from the database a batch at a time as they run
/// low, in upload order. Pure bookkeeping: the shell runs the loads it asks for and hands back
/// their results, and a result that a rewind or an upload made stale is recognised as such.
public struct ContactQueue<Contact: Sendable>: Sendable {
    /// A load to run: the contacts after `after`, at most a batch of them.
    public struct Load: Sendable, Equatable {
        public let after: Int64
        /// The queue's upload count when the load began: a load that began before an upload
        /// cannot prove the campaign has nothing more.
        fileprivate let uploads: Int
    }

    private var contacts: [Contact] = []
    private var head = 0
    public private(set) var loadedUpTo: Int64 = 0
    public private(set) var loading = false
    public private(set) var exhausted = false
    private var uploads = 0

    public init() {}

    public var count: Int { contacts.count - head }

    public mutating func pop() -> Contact? {
        guard head < contacts.count else { return nil }
        defer {
            head += 1
            if head > 1024, head * 2 > contacts.count {
                contacts.removeFirst(head)
                head = 0
            }
        }
        return contacts[head]
    }

    /// A contact taken and not offered after all goes back to the front.
    public mutating func pushFront(_ contact: Contact) {
        if head > 0 {
            head -= 1
            contacts[head] = contact
        } else {
            contacts.insert(contact, at: 0)
        }
    }

    /// The load to start when fewer than `lowWater` are queued, unless one is running or the
    /// campaign has nothing more.
    public mutating func loadIfLow(lowWater: Int) -> Load? {
        guard count < lowWater, !loading, !exhausted else { return nil }
        loading = true
        return Load(after: loadedUpTo, uploads: uploads)
    }

    /// Takes a finished load's `batch` (at most `batchLimit` rows, the last at `lastPosition`),
    /// queueing those `keep` admits. False, and nothing queued, when the load is stale: the queue
    /// was rewound while it ran.
    @discardableResult
    /// `scanned` counts the rows the load read, `batch` among them or not (contacts left
    /// waiting for their window are read and not queued).
    public mutating func loaded(_ batch: [Contact], by load: Load, lastPosition: Int64?, batchLimit: Int, scanned: Int? = nil,
                                keep: (Contact) -> Bool) -> Bool {
        loading = false
        guard loadedUpTo == load.after else { return false }
        contacts.append(contentsOf: batch.filter(keep))
        if let lastPosition { loadedUpTo = lastPosition }
        if (scanned ?? batch.count) < batchLimit, uploads == load.uploads { exhausted = true }
        return true
    }

    /// A load whose result is not wanted (its queue was replaced while it ran).
    public mutating func abandon(_ load: Load) {
        loading = false
    }

    /// New contacts were uploaded: there may be more to load.
    public mutating func contactsAdded() {
        exhausted = false
        uploads += 1
    }

    /// The campaign resumed: everything pending is eligible again, from the start.
    public mutating func rewind() {
        loadedUpTo = 0
        contactsAdded()
    }
}
