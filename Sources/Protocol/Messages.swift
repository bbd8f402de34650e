// Every message the processes exchange, one type per message.

// MARK: Handshake

/// The first message on every connection, from the side that connected: who it claims to be
/// and a fresh nonce the manager must answer with a proof (see `WireAuthentication`).
public struct Hello: RPCMessage {
    public static let type = "hello"
    public typealias Reply = HelloReply
    public static var senders: Set<PeerRole> { [.gateway, .dialer] }

    public var protocolVersion: Int
    public var role: String
    public var name: String
    /// 32 random bytes, hex.
    public var nonce: String

    public init(role: String, name: String, nonce: String, protocolVersion: Int = WireProtocol.version) {
        self.protocolVersion = protocolVersion
        self.role = role
        self.name = name
        self.nonce = nonce
    }
}

/// The manager's half of the handshake: its own nonce, and its proof that it holds the
/// role's secret. Every line after this one is sealed.
public struct HelloReply: Codable, Sendable {
    public var protocolVersion: Int
    public var role: String
    public var nonce: String
    public var proof: String

    public init(protocolVersion: Int = WireProtocol.version, role: String, nonce: String, proof: String) {
        self.protocolVersion = protocolVersion
        self.role = role
        self.nonce = nonce
        self.proof = proof
    }
}

/// The connecting side's proof that it holds its role's secret; the first sealed line.
public struct Authenticate: RPCMessage {
    public static let type = "authenticate"
    public typealias Reply = Empty
    public static var senders: Set<PeerRole> { [.gateway, .dialer] }

    public var proof: String

    public init(proof: String) {
        self.proof = proof
    }
}

// MARK: Campaigns (gateway → manager)

public struct CreateCampaign: GatewayRequest {
    public static let type = "campaign.create"
    public typealias Reply = CampaignRecord

    public var account: String
    public var name: String
    public var agentID: String
    public var callFromNumber: String?
    /// ISO 3166-1 alpha-2: the country national numbers of the campaign are read in.
    public var defaultCountry: String?
    /// `HH:MM-HH:MM mon,tue,…`; nil for the deployment's default.
    public var callingWindow: String?
    /// IANA zone for callees whose number has several.
    public var timezone: String?
    /// `RetryPolicy.text`; nil for no redial.
    public var retryPolicy: String?
    /// When a start begins dialing (a later start is `scheduled` until then), and when dialing
    /// ends: ms since the epoch.
    public var startAt: Int64?
    public var endAt: Int64?
    /// The campaign's own limits, inside the deployment's.
    public var maxConcurrentCalls: Int?
    public var callsPerSecond: Double?
    /// `off`, `detect` or `hangup`, and how long detection may listen (ms).
    public var machineDetection: String?
    public var machineDetectionTime: Int?

    public init(account: String, name: String, agentID: String, callFromNumber: String?, defaultCountry: String? = nil,
                callingWindow: String? = nil, timezone: String? = nil, retryPolicy: String? = nil) {
        self.retryPolicy = retryPolicy
        self.callingWindow = callingWindow
        self.timezone = timezone
        self.account = account
        self.name = name
        self.agentID = agentID
        self.callFromNumber = callFromNumber
        self.defaultCountry = defaultCountry
    }
}

/// Newest first; `before` is the position after which the previous page ended.
public struct ListCampaigns: GatewayRequest {
    public static let type = "campaign.list"
    public typealias Reply = CampaignPage

    public var account: String
    public var limit: Int
    public var before: Int64?

    public init(account: String, limit: Int, before: Int64?) {
        self.account = account
        self.limit = limit
        self.before = before
    }
}

public struct CampaignPage: Codable, Sendable {
    public var campaigns: [CampaignRecord]
    public var nextBefore: Int64?

    public init(campaigns: [CampaignRecord], nextBefore: Int64?) {
        self.campaigns = campaigns
        self.nextBefore = nextBefore
    }
}


/// Changes only the fields that are set.
public struct UpdateCampaign: GatewayRequest {
    public static let type = "campaign.update"
    public typealias Reply = CampaignRecord

    public var account: String
    public var campaignID: String
    public var name: String?
    public var agentID: String?
    public var callFromNumber: String?
    /// A country code to set, `""` to clear it, nil to leave it.
    public var defaultCountry: String?
    /// A window to set, `""` for the default again, nil to leave it; the same for the zone.
    public var callingWindow: String?
    public var timezone: String?
    /// `RetryPolicy.text` to set (`""`: no redial), nil to leave it.
    public var retryPolicy: String?
    /// A time to set (ms since the epoch), `0` to clear it, nil to leave it.
    public var startAt: Int64?
    public var endAt: Int64?
    /// A limit to set, `0` to clear it, nil to leave it.
    public var maxConcurrentCalls: Int?
    public var callsPerSecond: Double?
    /// `off`, `detect` or `hangup` to set, nil to leave it; a time to set, `0` for the default.
    public var machineDetection: String?
    public var machineDetectionTime: Int?

    public init(account: String, campaignID: String, name: String? = nil, agentID: String? = nil, callFromNumber: String? = nil,
                defaultCountry: String? = nil, callingWindow: String? = nil, timezone: String? = nil, retryPolicy: String? = nil) {
        self.retryPolicy = retryPolicy
        self.callingWindow = callingWindow
        self.timezone = timezone
        self.account = account
        self.campaignID = campaignID
        self.name = name
        self.agentID = agentID
        self.callFromNumber = callFromNumber
        self.defaultCountry = defaultCountry
    }
}


/// A message that names one campaign of one account and nothing more; its kind gives the wire
/// type and the reply, so each such message is one line below.
public struct CampaignAction<Kind: CampaignActionKind>: GatewayRequest {
    public static var type: String { Kind.type }
    public typealias Reply = Kind.Reply

    public var account: String
    public var campaignID: String

    public init(account: String, campaignID: String) {
        self.account = account
        self.campaignID = campaignID
    }
}

public protocol CampaignActionKind: Sendable {
    static var type: String { get }
    associatedtype Reply: Codable, Sendable
}

public enum GetCampaignKind: CampaignActionKind {
    public static let type = "campaign.get"
    public typealias Reply = CampaignRecord
}

public enum DeleteCampaignKind: CampaignActionKind {
    public static let type = "campaign.delete"
    public typealias Reply = Empty
}

public typealias GetCampaign = CampaignAction<GetCampaignKind>
public typealias DeleteCampaign = CampaignAction<DeleteCampaignKind>

// MARK: Contacts (gateway → manager)

/// All or nothing: either every new number is stored or none is.
public struct UploadContacts: GatewayRequest {
    public static let type = "contacts.upload"
    public typealias Reply = UploadResult

    public var account: String
    public var campaignID: String
    public var contacts: [NewContact]

    public init(account: String, campaignID: String, contacts: [NewContact]) {
        self.account = account
        self.campaignID = campaignID
        self.contacts = contacts
    }
}

public struct UploadResult: Codable, Sendable, Equatable {
    public var inserted: Int
    /// Numbers repeated within the upload or already in the campaign.
    public var duplicates: Int

    public init(inserted: Int, duplicates: Int) {
        self.inserted = inserted
        self.duplicates = duplicates
    }
}

/// In upload order; `after` is the position at which the previous page ended.
public struct ListContacts: GatewayRequest {
    public static let type = "contacts.list"
    public typealias Reply = ContactPage

    public var account: String
    public var campaignID: String
    public var status: ContactStatus?
    public var limit: Int
    public var after: Int64?

    public init(account: String, campaignID: String, status: ContactStatus?, limit: Int, after: Int64?) {
        self.account = account
        self.campaignID = campaignID
        self.status = status
        self.limit = limit
        self.after = after
    }
}

public struct ContactPage: Codable, Sendable {
    public var contacts: [ContactRecord]
    public var nextAfter: Int64?

    public init(contacts: [ContactRecord], nextAfter: Int64?) {
        self.contacts = contacts
        self.nextAfter = nextAfter
    }
}

public struct GetContact: GatewayRequest {
    public static let type = "contact.get"
    public typealias Reply = ContactRecord

    public var account: String
    public var campaignID: String
    public var contactID: String

    public init(account: String, campaignID: String, contactID: String) {
        self.account = account
        self.campaignID = campaignID
        self.contactID = contactID
    }
}

// MARK: Health

public struct Ping: RPCMessage {
    public static let type = "ping"
    public typealias Reply = Empty
    public static var senders: Set<PeerRole> { [.gateway, .dialer] }

    public init() {}
}

/// A campaign's statistics, read from counters kept as it runs.
public struct GetCampaignStats: GatewayRequest {
    public static let type = "campaign.stats"
    public typealias Reply = CampaignStats

    public var account: String
    public var campaignID: String
    /// The reader's now (ms since the epoch), for the last hour's minutes.
    public var now: Int64

    public init(account: String, campaignID: String, now: Int64) {
        self.account = account
        self.campaignID = campaignID
        self.now = now
    }
}

public struct CampaignStats: Codable, Sendable, Equatable {
    public var counts: ContactCounts
    /// Failed contacts by their final reason.
    public var failureReasons: [(reason: String, contacts: Int)] = []
    /// Go-aheads given (calls sent to Plivo), answers, and answers by machines.
    public var attempts = 0
    public var answered = 0
    public var voicemail = 0
    public var talkSeconds = 0
    public var talkedCalls = 0
    public var talkP50: Int?
    public var talkP90: Int?
    public var billedSeconds = 0
    /// Calls begun per minute (the minute's start, ms since the epoch), over the last hour.
    public var callsPerMinute: [(minute: Int64, calls: Int)] = []

    public init(counts: ContactCounts) {
        self.counts = counts
    }

    enum CodingKeys: String, CodingKey {
        case counts, reasons, reasonCounts, attempts, answered, voicemail, talkSeconds, talkedCalls, talkP50, talkP90, billedSeconds, minutes, minuteCalls
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        counts = try container.decode(ContactCounts.self, forKey: .counts)
        failureReasons = Array(zip(try container.decode([String].self, forKey: .reasons), try container.decode([Int].self, forKey: .reasonCounts)))
        attempts = try container.decode(Int.self, forKey: .attempts)
        answered = try container.decode(Int.self, forKey: .answered)
        voicemail = try container.decode(Int.self, forKey: .voicemail)
        talkSeconds = try container.decode(Int.self, forKey: .talkSeconds)
        talkedCalls = try container.decode(Int.self, forKey: .talkedCalls)
        talkP50 = try container.decodeIfPresent(Int.self, forKey: .talkP50)
        talkP90 = try container.decodeIfPresent(Int.self, forKey: .talkP90)
        billedSeconds = try container.decode(Int.self, forKey: .billedSeconds)
        callsPerMinute = Array(zip(try container.decode([Int64].self, forKey: .minutes), try container.decode([Int].self, forKey: .minuteCalls)))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(counts, forKey: .counts)
        try container.encode(failureReasons.map(\.reason), forKey: .reasons)
        try container.encode(failureReasons.map(\.contacts), forKey: .reasonCounts)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(answered, forKey: .answered)
        try container.encode(voicemail, forKey: .voicemail)
        try container.encode(talkSeconds, forKey: .talkSeconds)
        try container.encode(talkedCalls, forKey: .talkedCalls)
        try container.encodeIfPresent(talkP50, forKey: .talkP50)
        try container.encodeIfPresent(talkP90, forKey: .talkP90)
        try container.encode(billedSeconds, forKey: .billedSeconds)
        try container.encode(callsPerMinute.map(\.minute), forKey: .minutes)
        try container.encode(callsPerMinute.map(\.calls), forKey: .minuteCalls)
    }

    public static func == (lhs: CampaignStats, rhs: CampaignStats) -> Bool {
        lhs.counts == rhs.counts && lhs.failureReasons.elementsEqual(rhs.failureReasons, by: ==) && lhs.attempts == rhs.attempts
            && lhs.answered == rhs.answered && lhs.voicemail == rhs.voicemail && lhs.talkSeconds == rhs.talkSeconds
            && lhs.talkedCalls == rhs.talkedCalls && lhs.talkP50 == rhs.talkP50 && lhs.talkP90 == rhs.talkP90
            && lhs.billedSeconds == rhs.billedSeconds && lhs.callsPerMinute.elementsEqual(rhs.callsPerMinute, by: ==)
    }
}
