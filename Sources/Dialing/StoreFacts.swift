import Protocol

/// What the dispatcher needs to place a running campaign's calls.
public struct DispatchCampaign: Sendable, Equatable {
    public let seq: Int64
    public let id: String
    public let account: String
    public let agentID: String
    public let from: String?
    /// The campaign's own limits, inside the deployment's (nil: only those).
    public let maxConcurrentCalls: Int?
    public let callsPerSecond: Double?
    /// Voicemail detection to ask Plivo for (`detect`, `hangup`; nil: none), and for how long (ms).
    public let machineDetection: String?
    public let machineDetectionTime: Int?

    public init(seq: Int64, id: String, account: String, agentID: String, from: String?, maxConcurrentCalls: Int? = nil,
                callsPerSecond: Double? = nil, machineDetection: String? = nil, machineDetectionTime: Int? = nil) {
        self.machineDetection = machineDetection
        self.machineDetectionTime = machineDetectionTime
        self.seq = seq
        self.id = id
        self.account = account
        self.agentID = agentID
        self.from = from
        self.maxConcurrentCalls = maxConcurrentCalls
        self.callsPerSecond = callsPerSecond
    }
}

/// A pending contact, as the dispatcher queues it.
public struct QueuedContact: Sendable, Equatable {
    public let seq: Int64
    public let phoneNumber: String

    public init(seq: Int64, phoneNumber: String) {
        self.seq = seq
        self.phoneNumber = phoneNumber
    }
}

/// A call whose outcome is overdue: no news for a while.
public struct OverdueCall: Sendable, Equatable {
    public let contactSeq: Int64
    public let attempt: Int64
    /// nil only for a state this version does not know (a newer database's).
    public let callState: CallState?
    public let requestUUID: String?
    public let callUUID: String?
    /// Wall-clock milliseconds since the epoch, as the database keeps them.
    public let lastEventAt: Int64

    public init(contactSeq: Int64, attempt: Int64, callState: CallState?, requestUUID: String?, callUUID: String?, lastEventAt: Int64) {
        self.contactSeq = contactSeq
        self.attempt = attempt
        self.callState = callState
        self.requestUUID = requestUUID
        self.callUUID = callUUID
        self.lastEventAt = lastEventAt
    }
}

/// A call Plivo holds queued that must not go out any more: its campaign stopped, or its number
/// was listed.
public struct QueuedCallToStop: Sendable, Equatable {
    public let contactSeq: Int64
    public let attempt: Int64
    public let requestUUID: String
    public let reason: QueuedCallStop

    public init(contactSeq: Int64, attempt: Int64, requestUUID: String, reason: QueuedCallStop) {
        self.contactSeq = contactSeq
        self.attempt = attempt
        self.requestUUID = requestUUID
        self.reason = reason
    }
}

/// What a committed write did to the dispatcher's world: the contact's transition, and what it
/// did to the campaign.
public struct DispatchEffect: Sendable, Equatable {
    public var transition = Transition.ignored
    /// The contact and campaign the transition happened to.
    public var contact: QueuedContact?
    public var campaign: Int64?
    /// The campaign ran out of work and is now completed.
    public var completedCampaign: Int64?
    /// The campaign was paused by the system (e.g. Plivo refused our credentials).
    public var pausedCampaign: Int64?

    public init(transition: Transition = .ignored, contact: QueuedContact? = nil, campaign: Int64? = nil,
                completedCampaign: Int64? = nil, pausedCampaign: Int64? = nil) {
        self.transition = transition
        self.contact = contact
        self.campaign = campaign
        self.completedCampaign = completedCampaign
        self.pausedCampaign = pausedCampaign
    }

    public var applied: Bool { transition.applied }
    /// A call that counted against the concurrency limit no longer does.
    public var releasedSlot: Bool { transition.releasesSlot }
    /// The contact was surely not called and should be offered again.
    public var retry: QueuedContact? { transition.requeues ? contact : nil }
    public var retryCampaign: Int64? { transition.requeues ? campaign : nil }
}

/// The database's answer to a begin.
public enum BeginVerdict: Sendable, Equatable {
    case go
    case campaignNotRunning
    case contactNotPending
    case doNotCall(DispatchEffect)
    /// The callee's calling window is closed; it opens this much later.
    case outsideWindow(opensInMilliseconds: Int64)
}
