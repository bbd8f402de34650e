/// The states of a campaign (the spec's status flow: draft → running ⇄ paused → completed).
public enum CampaignStatus: String, Codable, Sendable, CaseIterable {
    case draft, running, paused, completed
}

/// The states of a contact (pending → dialed → completed | failed; pending → skipped_dnc).
public enum ContactStatus: String, Codable, Sendable, CaseIterable {
    case pending, dialed, completed, failed
    case skippedDNC = "skipped_dnc"
}

/// How many of a campaign's contacts are in each status.
public struct ContactCounts: Codable, Sendable, Equatable {
    public var pending: Int
    public var dialed: Int
    public var completed: Int
    public var failed: Int
    public var skippedDNC: Int

    public init(pending: Int = 0, dialed: Int = 0, completed: Int = 0, failed: Int = 0, skippedDNC: Int = 0) {
        self.pending = pending
        self.dialed = dialed
        self.completed = completed
        self.failed = failed
        self.skippedDNC = skippedDNC
    }

    public var total: Int { pending + dialed + completed + failed + skippedDNC }
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

    public init(id: String, name: String, agentID: String, callFromNumber: String?, status: CampaignStatus, createdAt: Int64, updatedAt: Int64, counts: ContactCounts) {
        self.id = id
        self.name = name
        self.agentID = agentID
        self.callFromNumber = callFromNumber
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.counts = counts
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

    public init(id: String, campaignID: String, phoneNumber: String, variables: String, status: ContactStatus, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.campaignID = campaignID
        self.phoneNumber = phoneNumber
        self.variables = variables
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A contact as uploaded, already validated and normalised by the gateway.
public struct NewContact: Codable, Sendable, Equatable {
    public var phoneNumber: String
    public var variables: String

    public init(phoneNumber: String, variables: String) {
        self.phoneNumber = phoneNumber
        self.variables = variables
    }
}
