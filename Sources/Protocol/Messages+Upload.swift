// A contact upload in several messages (a CSV file streamed through the gateway): staged on the
// manager a batch at a time, inserted all at once or not at all (gateway → manager).

/// Opens an upload into a campaign that takes contacts; the answer names it.
public struct BeginContactUpload: GatewayRequest {
    public static let type = "contacts.upload.begin"
    public typealias Reply = ContactUploadSession

    public var account: String
    public var campaignID: String

    public init(account: String, campaignID: String) {
        self.account = account
        self.campaignID = campaignID
    }
}

public struct ContactUploadSession: Codable, Sendable, Equatable {
    public var token: String
    /// The campaign's default country, in which national numbers are read.
    public var defaultCountry: String?

    public init(token: String, defaultCountry: String?) {
        self.token = token
        self.defaultCountry = defaultCountry
    }
}

/// Contacts already validated, staged until the upload finishes: none is in the campaign yet.
public struct StageContacts: GatewayRequest {
    public static let type = "contacts.upload.stage"
    public typealias Reply = Empty

    public var account: String
    public var token: String
    public var contacts: [NewContact]

    public init(account: String, token: String, contacts: [NewContact]) {
        self.account = account
        self.token = token
        self.contacts = contacts
    }
}

/// Ends an upload: inserts every staged contact in one transaction (`commit`, when `staged`
/// are staged, as the gateway counted), or drops them all.
public struct FinishContactUpload: GatewayRequest {
    public static let type = "contacts.upload.finish"
    public typealias Reply = UploadResult

    public var account: String
    public var token: String
    public var commit: Bool
    public var staged: Int

    public init(account: String, token: String, commit: Bool, staged: Int) {
        self.account = account
        self.token = token
        self.commit = commit
        self.staged = staged
    }
}
