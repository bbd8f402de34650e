/// The states of a campaign (the spec's status flow: draft → running ⇄ paused → completed), with
/// `scheduled` (started before its `start_at`) and `canceled` (final).
public enum CampaignStatus: String, Codable, Sendable, CaseIterable {
    case draft, scheduled, running, paused, completed, canceled
}

/// The states of a contact (pending → dialed → completed | failed; pending → skipped_dnc;
/// pending → canceled when its campaign is).
public enum ContactStatus: String, Codable, Sendable, CaseIterable {
    case pending, dialed, completed, failed
    case skippedDNC = "skipped_dnc"
    case canceled
    /// Not called by its campaign's `end_at`.
    case expired
}

/// How many of a campaign's contacts are in each status.
public struct ContactCounts: Codable, Sendable, Equatable {
    public var pending: Int
    public var dialed: Int
    public var completed: Int
    public var failed: Int
    public var skippedDNC: Int
    public var canceled: Int
    public var expired: Int

    public init(pending: Int = 0, dialed: Int = 0, completed: Int = 0, failed: Int = 0, skippedDNC: Int = 0, canceled: Int = 0, expired: Int = 0) {
        self.canceled = canceled
        self.expired = expired
        self.pending = pending
        self.dialed = dialed
        self.completed = completed
        self.failed = failed
        self.skippedDNC = skippedDNC
    }

    public var total: Int { pending + dialed + completed + failed + skippedDNC + canceled + expired }
}

public struct CampaignRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var agentID: String
    public var callFromNumber: String?
    public var status: CampaignStatus
    public var createdAt: Int64
    public var updatedAt: Int64
    public var counts: ContactCounts
    /// Why the system paused a running campaign by itself (e.g. `plivo_auth_failed`); nil otherwise.
    public var pausedReason: String?
    /// ISO 3166-1 alpha-2: the country national numbers of the campaign are read in.
    public var defaultCountry: String?
    /// The calling window in force (the campaign's, or the deployment's default), as
    /// `HH:MM-HH:MM mon,tue,…`, and the zone for callees whose number does not tell theirs.
    public var callingWindow: String?
    public var timezone: String?
    /// Pending contacts waiting for their window to open, and when the first of them opens.
    public var waitingWindow: Int = 0
    public var nextWindowOpensAt: Int64?
    /// `RetryPolicy.text`: empty for no redial.
    public var retryPolicy = ""
    /// When a start asked for earlier begins dialing, and when dialing ends (ms since the epoch).
    public var startAt: Int64?
    public var endAt: Int64?
    /// Its own limits, inside the deployment's (nil: none of its own).
    public var maxConcurrentCalls: Int?
    public var callsPerSecond: Double?
    /// Voicemail detection: `off`, `detect` or `hangup`, and how long it may listen (ms; nil: Plivo's default).
    public var machineDetection = "off"
    public var machineDetectionTime: Int?

    public init(id: String, name: String, agentID: String, callFromNumber: String?, status: CampaignStatus, createdAt: Int64, updatedAt: Int64, counts: ContactCounts, pausedReason: String? = nil, defaultCountry: String? = nil,
                callingWindow: String? = nil, timezone: String? = nil, waitingWindow: Int = 0, nextWindowOpensAt: Int64? = nil) {
        self.callingWindow = callingWindow
        self.timezone = timezone
        self.waitingWindow = waitingWindow
        self.nextWindowOpensAt = nextWindowOpensAt
        self.id = id
        self.name = name
        self.agentID = agentID
        self.callFromNumber = callFromNumber
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.counts = counts
        self.pausedReason = pausedReason
        self.defaultCountry = defaultCountry
    }
}

public struct ContactRecord: Codable, Sendable, Equatable {
    public var id: String
    public var campaignID: String
    public var phoneNumber: String
    /// The contact's variables as a JSON object's text, exactly as validated at upload.
    public var variables: String
    public var status: ContactStatus
    public var createdAt: Int64
    public var updatedAt: Int64
    public var call: CallDetails
    public var timezone: String?
    /// When its calling window opens next, while it waits for it (ms since the epoch).
    public var windowOpensAt: Int64?
    /// Every attempt to call it, oldest first (filled for a single contact's read).
    public var attempts: [AttemptRecord] = []
    /// Attempts that reached Plivo (or may have), and when a redial may come while it waits for one.
    public var attemptsMade = 0
    public var nextAttemptAt: Int64?
    /// Who answered its latest call, by voicemail detection: `human`, `machine` or `unknown`.
    public var answeredBy: String?

    public init(id: String, campaignID: String, phoneNumber: String, variables: String, status: ContactStatus, createdAt: Int64, updatedAt: Int64, call: CallDetails = CallDetails(),
                timezone: String? = nil, windowOpensAt: Int64? = nil) {
        self.timezone = timezone
        self.windowOpensAt = windowOpensAt
        self.id = id
        self.campaignID = campaignID
        self.phoneNumber = phoneNumber
        self.variables = variables
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.call = call
    }
}

/// What is known about a contact's call: Plivo's ids, timing and how it ended.
public struct CallDetails: Codable, Sendable, Equatable {
    public var requestUUID: String?
    public var callUUID: String?
    public var failureReason: String?
    public var failureDetail: String?
    public var hangupCause: String?
    public var hangupCauseCode: Int?
    public var dialedAt: Int64?
    public var answeredAt: Int64?
    public var endedAt: Int64?
    public var durationSeconds: Int?
    public var billDurationSeconds: Int?

    public init(requestUUID: String? = nil, callUUID: String? = nil, failureReason: String? = nil, failureDetail: String? = nil,
                hangupCause: String? = nil, hangupCauseCode: Int? = nil, dialedAt: Int64? = nil, answeredAt: Int64? = nil,
                endedAt: Int64? = nil, durationSeconds: Int? = nil, billDurationSeconds: Int? = nil) {
        self.requestUUID = requestUUID
        self.callUUID = callUUID
        self.failureReason = failureReason
        self.failureDetail = failureDetail
        self.hangupCause = hangupCause
        self.hangupCauseCode = hangupCauseCode
        self.dialedAt = dialedAt
        self.answeredAt = answeredAt
        self.endedAt = endedAt
        self.durationSeconds = durationSeconds
        self.billDurationSeconds = billDurationSeconds
    }
}

/// A contact as uploaded, already validated and normalised by the gateway.
public struct NewContact: Codable, Sendable, Equatable {
    public var phoneNumber: String
    public var variables: String
    /// The callee's IANA time zone, when the uploader knows it.
    public var timezone: String?

    public init(phoneNumber: String, variables: String, timezone: String? = nil) {
        self.phoneNumber = phoneNumber
        self.variables = variables
        self.timezone = timezone
    }
}

/// Contact ids are `ct_` and the row's position; positions are never reused.
public enum ContactID {
    public static func format(_ seq: Int64) -> String { "ct_\(seq)" }

    public static func parse(_ id: String) -> Int64? {
        guard id.hasPrefix("ct_"), let seq = Int64(id.dropFirst(3)), seq > 0 else { return nil }
        return seq
    }
}

/// One attempt to call a contact: why it was allowed (recorded when its go-ahead committed) and
/// how it ended.
public struct AttemptRecord: Codable, Sendable, Equatable {
    public var attempt: Int64
    public var begunAt: Int64
    /// The account's Do-Not-Call list as checked: its version and its size.
    public var dncVersion: Int64
    public var dncEntries: Int64
    /// The callee's local time then (ISO 8601 with its offset), zone, how the zone was known
    /// (`contact`, `area_code`, `country`, `campaign`, `continental`), and the window applied.
    public var localTime: String?
    public var timezone: String?
    public var timezoneSource: String?
    public var callingWindow: String?
    /// `placing`, `dialed`, `completed`, `failed`, `skipped_dnc`, `not_placed` (surely not called;
    /// offered again), `canceled_at_plivo` (held in Plivo's queue and canceled there: not called).
    public var outcome: String?
    public var failureReason: String?
    public var endedAt: Int64?
    /// Plivo's ids for this attempt, and how its call went.
    public var requestUUID: String?
    public var callUUID: String?
    public var answeredAt: Int64?
    public var hangupCause: String?
    public var hangupCauseCode: Int?
    public var durationSeconds: Int?
    /// Voicemail detection's verdict: `human`, `machine`, `unknown` (nil when it was off).
    public var answeredBy: String?

    public init(attempt: Int64, begunAt: Int64, dncVersion: Int64, dncEntries: Int64, localTime: String?, timezone: String?,
                timezoneSource: String?, callingWindow: String?, outcome: String?, failureReason: String?, endedAt: Int64?,
                requestUUID: String? = nil, callUUID: String? = nil, answeredAt: Int64? = nil, hangupCause: String? = nil,
                hangupCauseCode: Int? = nil, durationSeconds: Int? = nil) {
        self.requestUUID = requestUUID
        self.callUUID = callUUID
        self.answeredAt = answeredAt
        self.hangupCause = hangupCause
        self.hangupCauseCode = hangupCauseCode
        self.durationSeconds = durationSeconds
        self.attempt = attempt
        self.begunAt = begunAt
        self.dncVersion = dncVersion
        self.dncEntries = dncEntries
        self.localTime = localTime
        self.timezone = timezone
        self.timezoneSource = timezoneSource
        self.callingWindow = callingWindow
        self.outcome = outcome
        self.failureReason = failureReason
        self.endedAt = endedAt
    }
}
