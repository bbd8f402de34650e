import JSON

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
    /// A `ContactBatch`'s text: the manager checks its shape and keeps it as it is.
    public var contacts: String
    public var count: Int

    public init(account: String, token: String, batch: ContactBatch) {
        self.account = account
        self.token = token
        contacts = batch.text
        count = batch.count
    }
}

/// Contacts as one JSON array, `[["phone_number","variables as JSON text","timezone" or null],…]`:
/// written straight into bytes by the gateway and read by SQLite on the manager, so a million
/// contacts are never a million values on either side.
public struct ContactBatch: Sendable {
    private var bytes: [UInt8] = [UInt8(ascii: "[")]
    public private(set) var count = 0

    public init() {}

    /// `variables` is a JSON object's text.
    public mutating func append(phoneNumber: String, variables: String, timezone: String?) {
        if count > 0 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "["))
        JSONValue.writeString(phoneNumber, into: &bytes)
        bytes.append(UInt8(ascii: ","))
        JSONValue.writeString(variables, into: &bytes)
        bytes.append(UInt8(ascii: ","))
        if let timezone { JSONValue.writeString(timezone, into: &bytes) } else { bytes += Array("null".utf8) }
        bytes.append(UInt8(ascii: "]"))
        count += 1
    }

    public var isEmpty: Bool { count == 0 }
    public var text: String { String(decoding: bytes + [UInt8(ascii: "]")], as: UTF8.self) }
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
