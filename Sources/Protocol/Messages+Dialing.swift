// Messages of the dialing side: campaign lifecycle, DNC, Plivo callbacks, and the dialers.

// MARK: Lifecycle (gateway → manager)

/// Queues the campaign's pending contacts for dialing.
public enum StartCampaignKind: CampaignActionKind {
    public static let type = "campaign.start"
    public typealias Reply = StartResult
}

public typealias StartCampaign = CampaignAction<StartCampaignKind>

public struct StartResult: Codable, Sendable, Equatable {
    /// Contacts queued for dialing by this start.
    public var queued: Int
    public var skippedDNC: Int

    public init(queued: Int, skippedDNC: Int) {
        self.queued = queued
        self.skippedDNC = skippedDNC
    }
}

/// Answered once no call of the campaign can still be placed.
public enum PauseCampaignKind: CampaignActionKind {
    public static let type = "campaign.pause"
    public typealias Reply = Empty
}

public enum ResumeCampaignKind: CampaignActionKind {
    public static let type = "campaign.resume"
    public typealias Reply = Empty
}

/// Answered once no call of the campaign can still reach Plivo, like a pause; its contacts not
/// called yet are canceled, and calls in progress finish.
public enum CancelCampaignKind: CampaignActionKind {
    public static let type = "campaign.cancel"
    public typealias Reply = Empty
}

public typealias PauseCampaign = CampaignAction<PauseCampaignKind>
public typealias CancelCampaign = CampaignAction<CancelCampaignKind>
public typealias ResumeCampaign = CampaignAction<ResumeCampaignKind>

// MARK: Do-Not-Call (gateway → manager)

/// Answered once no dialer can call these numbers any more.
public struct AddDNC: GatewayRequest {
    public static let type = "dnc.add"
    public typealias Reply = DNCAddResult

    public var account: String
    public var numbers: [String]

    public init(account: String, numbers: [String]) {
        self.account = account
        self.numbers = numbers
    }
}

public struct DNCAddResult: Codable, Sendable, Equatable {
    public var added: Int
    public var alreadyListed: Int

    public init(added: Int, alreadyListed: Int) {
        self.added = added
        self.alreadyListed = alreadyListed
    }
}

/// In number order; `after` is the last number of the previous page.
public struct ListDNC: GatewayRequest {
    public static let type = "dnc.list"
    public typealias Reply = DNCPage

    public var account: String
    public var limit: Int
    public var after: String?

    public init(account: String, limit: Int, after: String?) {
        self.account = account
        self.limit = limit
        self.after = after
    }
}

public struct DNCEntry: Codable, Sendable, Equatable {
    public var phoneNumber: String
    public var createdAt: Int64
    /// How it was listed: `api` (`POST /v1/dnc`) or `opt_out` (the callee asked, mid-call).
    public var source: String
    /// The contact that opted out, for `opt_out` entries.
    public var contactID: String?

    public init(phoneNumber: String, createdAt: Int64, source: String = DNCEntry.api, contactID: String? = nil) {
        self.phoneNumber = phoneNumber
        self.createdAt = createdAt
        self.source = source
        self.contactID = contactID
    }

    public static let api = "api"
    public static let optOut = "opt_out"
}

/// The callee asked not to be called again: the contact's number goes on its account's
/// Do-Not-Call list (`source: opt_out`), answered once no dialer can call it any more.
public struct OptOutContact: GatewayRequest {
    public static let type = "contact.opt_out"
    public typealias Reply = OptOutResult

    public var account: String
    public var campaignID: String
    public var contactID: String

    public init(account: String, campaignID: String, contactID: String) {
        self.account = account
        self.campaignID = campaignID
        self.contactID = contactID
    }
}

public struct OptOutResult: Codable, Sendable, Equatable {
    /// The number as listed: a new entry, or the one already there.
    public var entry: DNCEntry
    public var alreadyListed: Bool

    public init(entry: DNCEntry, alreadyListed: Bool) {
        self.entry = entry
        self.alreadyListed = alreadyListed
    }
}

public struct DNCPage: Codable, Sendable {
    public var entries: [DNCEntry]
    public var nextAfter: String?

    public init(entries: [DNCEntry], nextAfter: String?) {
        self.entries = entries
        self.nextAfter = nextAfter
    }
}

public struct RemoveDNC: GatewayRequest {
    public static let type = "dnc.remove"
    public typealias Reply = Empty

    public var account: String
    public var number: String

    public init(account: String, number: String) {
        self.account = account
        self.number = number
    }
}

// MARK: Plivo callbacks (gateway → manager)

public enum CallEventKind: String, Codable, Sendable {
    case ring, answer, hangup
    /// Voicemail detection's answer (`Machine`), from `machine_detection_url`.
    case machine
}

/// A verified Plivo callback about one call attempt.
public struct CallEvent: Codable, Sendable, Equatable {
    public var kind: CallEventKind
    public var contactID: String
    public var attempt: Int64
    public var callUUID: String?
    public var requestUUID: String?
    public var callStatus: String?
    public var hangupCause: String?
    public var hangupCauseCode: Int?
    public var durationSeconds: Int?
    public var billDurationSeconds: Int?
    /// Voicemail detection: a machine answered (true) or a person (false).
    public var machine: Bool?

    public init(kind: CallEventKind, contactID: String, attempt: Int64, callUUID: String? = nil, requestUUID: String? = nil,
                callStatus: String? = nil, hangupCause: String? = nil, hangupCauseCode: Int? = nil,
                durationSeconds: Int? = nil, billDurationSeconds: Int? = nil, machine: Bool? = nil) {
        self.machine = machine
        self.kind = kind
        self.contactID = contactID
        self.attempt = attempt
        self.callUUID = callUUID
        self.requestUUID = requestUUID
        self.callStatus = callStatus
        self.hangupCause = hangupCause
        self.hangupCauseCode = hangupCauseCode
        self.durationSeconds = durationSeconds
        self.billDurationSeconds = billDurationSeconds
    }
}

/// Answered after the event is durably recorded (or known to be stale or unknown).
public struct RecordCallEvent: GatewayRequest {
    public static let type = "call.event"
    public typealias Reply = CallEventAck

    public var event: CallEvent

    public init(event: CallEvent) {
        self.event = event
    }
}

public struct CallEventAck: Codable, Sendable, Equatable {
    /// False when the event changed nothing: a duplicate, a late one, or an unknown call.
    public var applied: Bool

    public init(applied: Bool) {
        self.applied = applied
    }
}

// MARK: Status (gateway → manager)

public struct GetDispatchStatus: GatewayRequest {
    public static let type = "dispatch.status"
    public typealias Reply = DispatchStatus

    public init() {}
}

public struct DispatchStatus: Codable, Sendable, Equatable {
    public var dialers: [String]
    public var liveCalls: Int
    public var offeredCalls: Int

    public init(dialers: [String], liveCalls: Int, offeredCalls: Int) {
        self.dialers = dialers
        self.liveCalls = liveCalls
        self.offeredCalls = offeredCalls
    }
}

/// The manager's metrics in Prometheus text format, for the gateway's `/metrics`.
public struct GetMetrics: GatewayRequest {
    public static let type = "metrics.get"
    public typealias Reply = MetricsText

    public init() {}
}

public struct MetricsText: Codable, Sendable {
    public var text: String

    public init(text: String) {
        self.text = text
    }
}

// MARK: Dialers (dialer ⇄ manager)

/// A dialer's first message after hello: how many Plivo requests it runs at once.
public struct RegisterDialer: DialerRequest {
    public static let type = "dialer.register"
    public typealias Reply = DialerRegistration
    /// More Plivo requests at once than any one dialer should run.
    public static let maxSlots = 10_000

    public var name: String
    public var slots: Int

    public init(name: String, slots: Int) {
        self.name = name
        self.slots = slots
    }
}

/// The whole Do-Not-Call list, grouped by account; changes follow as `DNCUpdate`.
public struct DialerRegistration: Codable, Sendable {
    public var dnc: [DNCUpdate]

    public init(dnc: [DNCUpdate]) {
        self.dnc = dnc
    }
}

/// Manager → dialer: numbers that joined or left an account's Do-Not-Call list.
public struct DNCUpdate: ManagerRequest {
    public static let type = "dialer.dnc"
    public typealias Reply = Empty

    public var account: String
    public var added: [String]
    public var removed: [String]

    public init(account: String, added: [String], removed: [String]) {
        self.account = account
        self.added = added
        self.removed = removed
    }
}

/// Manager → dialer: an offer to place one call. The dialer must `BeginCall` within the lease
/// and place the call only if told to go.
public struct PlaceCall: ManagerRequest {
    public static let type = "dialer.place"
    public typealias Reply = Empty

    public var attempt: Int64
    public var account: String
    public var campaignID: String
    public var contactID: String
    public var agentID: String
    public var from: String
    public var to: String
    public var leaseMilliseconds: Int
    /// Voicemail detection to ask Plivo for: `detect` or `hangup` (nil: none), and how long it
    /// may listen (ms).
    public var machineDetection: String?
    public var machineDetectionTime: Int?

    public init(attempt: Int64, account: String, campaignID: String, contactID: String, agentID: String, from: String, to: String, leaseMilliseconds: Int,
                machineDetection: String? = nil, machineDetectionTime: Int? = nil) {
        self.machineDetection = machineDetection
        self.machineDetectionTime = machineDetectionTime
        self.attempt = attempt
        self.account = account
        self.campaignID = campaignID
        self.contactID = contactID
        self.agentID = agentID
        self.from = from
        self.to = to
        self.leaseMilliseconds = leaseMilliseconds
    }
}

/// Dialer → manager: "I am about to send this call to Plivo". The manager's durable answer is
/// the point after which the call may exist; before it, the offer can safely be given to another.
public struct BeginCall: DialerRequest, Equatable {
    public static let type = "dialer.begin"
    public typealias Reply = BeginCallReply

    public var attempt: Int64
    /// Asks again for a placement already begun whose go-ahead came too late to send in its
    /// slot (see `BeginCallReply.sendWithinMicroseconds`).
    public var renew: Bool?

    /// Renewals of one placement: after these the dialer sends without a slot (a dialer whose
    /// round trip to the manager alone is longer than the bound), and the manager refuses more.
    public static let maxRenewals = 4

    public init(attempt: Int64, renew: Bool? = nil) {
        self.attempt = attempt
        self.renew = renew
    }
}

/// The answer to a begin. A paced go-ahead carries its slot: the request may leave only while
/// the time since the dialer sent its begin, less `heldMicroseconds` (how long the manager held
/// the answer for the slot), is within `sendWithinMicroseconds`. The dialer measures both ends on
/// its own clock, so a stall anywhere (network, either process) is caught, and a late dialer asks
/// again (`renew`) instead of sending into the next one-second window.
public struct BeginCallReply: Codable, Sendable, Equatable {
    public var go: Bool
    public var reason: String?
    public var heldMicroseconds: Int64?
    public var sendWithinMicroseconds: Int64?

    public init(go: Bool, reason: String? = nil, heldMicroseconds: Int64? = nil, sendWithinMicroseconds: Int64? = nil) {
        self.go = go
        self.reason = reason
        self.heldMicroseconds = heldMicroseconds
        self.sendWithinMicroseconds = sendWithinMicroseconds
    }
}

extension BeginCallReply {
    /// The latest instant the request may leave, on the dialer's clock, for a begin (or renewal)
    /// sent at `askedAt`: nil when the go-ahead is unpaced.
    public func sendDeadline(askedAt: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let held = heldMicroseconds, let within = sendWithinMicroseconds else { return nil }
        return askedAt + .microseconds(held + within)
    }
}

/// How a begun placement ended, from the dialer's side of Plivo's API.
public enum PlacementOutcome: Codable, Sendable, Equatable {
    /// Plivo answered 2xx.
    case accepted(requestUUID: String)
    /// Plivo answered "call queued": the account's calls per second are spent, and Plivo holds
    /// the request in its queue. Until the call starts it can be canceled (`CancelQueuedCall`).
    case queued(requestUUID: String)
    /// Plivo refused the call (4xx other than auth and rate limiting): surely not placed.
    case refused(httpStatus: Int, message: String)
    /// Surely not placed and worth retrying later (429, connection refused).
    case notPlaced(reason: String, retryAfterMilliseconds: Int)
    /// Plivo refused our credentials (401/403): surely not placed.
    case authRejected(httpStatus: Int, message: String)
    /// The request may have reached Plivo (timeout, 5xx, dropped connection): never retried blindly.
    case uncertain(reason: String)
    /// The dialer's own Do-Not-Call check stopped it.
    case skippedDNC
}

/// Dialer → manager; sent until acknowledged, across reconnects.
public struct ReportPlacement: DialerRequest, Equatable {
    public static let type = "dialer.report"
    public typealias Reply = Empty

    public var attempt: Int64
    public var contactID: String
    public var outcome: PlacementOutcome

    public init(attempt: Int64, contactID: String, outcome: PlacementOutcome) {
        self.attempt = attempt
        self.contactID = contactID
        self.outcome = outcome
    }
}

/// Manager → dialer: ask Plivo what became of a call whose outcome is overdue.
public struct LookupCall: ManagerRequest {
    public static let type = "dialer.lookup"
    public typealias Reply = CallLookup

    public var callUUID: String?
    public var requestUUID: String?

    public init(callUUID: String?, requestUUID: String?) {
        self.callUUID = callUUID
        self.requestUUID = requestUUID
    }
}

public enum CallLookup: Codable, Sendable, Equatable {
    case live
    /// Still in Plivo's call queue: not started yet.
    case queued
    case ended(callStatus: String, hangupCause: String?, hangupCauseCode: Int?, durationSeconds: Int?)
    case notFound
    case unavailable(reason: String)
}

/// Manager → dialer: ask Plivo to cancel a call request it still holds queued
/// (`DELETE …/Request/{request_uuid}/`), because its campaign stopped or its number was listed.
public struct CancelQueuedCall: ManagerRequest {
    public static let type = "dialer.cancel_queued"
    public typealias Reply = QueuedCallCancel

    public var requestUUID: String

    public init(requestUUID: String) {
        self.requestUUID = requestUUID
    }
}

public enum QueuedCallCancel: Codable, Sendable, Equatable {
    /// Plivo confirmed it: the call will never start.
    case canceled
    /// Plivo holds no such queued request: the call started (or ended), and callbacks will tell.
    case notQueued
    /// Plivo could not be asked, or its answer says nothing: try again later.
    case unavailable(reason: String)
}

// MARK: Caller IDs (gateway → manager)

/// A number the account may call from. One number belongs to one account at most.
public struct OwnedNumber: Codable, Sendable, Equatable {
    public var phoneNumber: String
    public var createdAt: Int64

    public init(phoneNumber: String, createdAt: Int64) {
        self.phoneNumber = phoneNumber
        self.createdAt = createdAt
    }
}

public struct AddNumber: GatewayRequest {
    public static let type = "number.add"
    public typealias Reply = AddNumberResult

    public var account: String
    public var phoneNumber: String

    public init(account: String, phoneNumber: String) {
        self.account = account
        self.phoneNumber = phoneNumber
    }
}

public struct AddNumberResult: Codable, Sendable, Equatable {
    public var number: OwnedNumber
    /// The account had it already.
    public var alreadyOwned: Bool

    public init(number: OwnedNumber, alreadyOwned: Bool) {
        self.number = number
        self.alreadyOwned = alreadyOwned
    }
}

public struct ListNumbers: GatewayRequest {
    public static let type = "number.list"
    public typealias Reply = NumberList

    public var account: String

    public init(account: String) {
        self.account = account
    }
}

public struct NumberList: Codable, Sendable, Equatable {
    public var numbers: [OwnedNumber]

    public init(numbers: [OwnedNumber]) {
        self.numbers = numbers
    }
}

public struct RemoveNumber: GatewayRequest {
    public static let type = "number.remove"
    public typealias Reply = Empty

    public var account: String
    public var phoneNumber: String

    public init(account: String, phoneNumber: String) {
        self.account = account
        self.phoneNumber = phoneNumber
    }
}
