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
    /// A `ContactBatch`'s text.
    public var contacts: String
    public var count: Int

    public init(account: String, token: String, batch: ContactBatch) {
        self.account = account
        self.token = token
        contacts = batch.text
        count = batch.count
    }
}

/// Contacts as lines of text, `phone_number TAB variables TAB timezone LF` (the variables a JSON
/// object's compact text, the timezone empty for none): written straight into bytes by the gateway
/// and read a line at a time by the manager, so a million contacts are never a million values,
/// and the variables' quotes are escaped once on the way (in the line's string), not twice. No
/// field can hold a tab or a line break: a number's digits, compact JSON (which escapes control
/// characters) and an IANA zone name.
public struct ContactBatch: Sendable {
    private var bytes: [UInt8] = []
    public private(set) var count = 0

    public init() {}

    public mutating func append(phoneNumber: String, variables: some Collection<UInt8>, timezone: String?) {
        bytes += phoneNumber.utf8
        bytes.append(Self.fieldSeparator)
        bytes += variables
        bytes.append(Self.fieldSeparator)
        if let timezone { bytes += timezone.utf8 }
        bytes.append(Self.lineSeparator)
        count += 1
    }

    public var isEmpty: Bool { count == 0 }
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    static let fieldSeparator = UInt8(ascii: "\t")
    static let lineSeparator = UInt8(ascii: "\n")

    /// Calls `contact` with each line's three fields (the timezone empty for none), in order;
    /// returns how many. Throws `malformed` for a line that is not three fields, a number and an
    /// object (a batch is all or nothing: the caller's write is rolled back).
    public static func forEachContact(
        in text: String,
        _ contact: (_ phoneNumber: UnsafeBufferPointer<UInt8>, _ variables: UnsafeBufferPointer<UInt8>, _ timezone: UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws -> Int {
        var text = text
        return try text.withUTF8 { all in
            var count = 0
            var start = 0
            while start < all.count {
                guard let end = all[start...].firstIndex(of: lineSeparator),
                      let first = all[start..<end].firstIndex(of: fieldSeparator),
                      let second = all[(first + 1)..<end].firstIndex(of: fieldSeparator),
                      !all[(second + 1)..<end].contains(fieldSeparator),
                      first > start, second - first > 2, all[first + 1] == UInt8(ascii: "{"), all[second - 1] == UInt8(ascii: "}")
                else { throw malformed(count) }
                try contact(UnsafeBufferPointer(rebasing: all[start..<first]), UnsafeBufferPointer(rebasing: all[(first + 1)..<second]),
                            UnsafeBufferPointer(rebasing: all[(second + 1)..<end]))
                count += 1
                start = end + 1
            }
            return count
        }
    }

    private static func malformed(_ line: Int) -> RemoteError {
        RemoteError(.malformed, "staged contacts: line \(line + 1) is not phone_number, variables and timezone separated by tabs")
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
