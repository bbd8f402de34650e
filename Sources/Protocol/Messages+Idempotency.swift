import JSON

// A request sent with an `Idempotency-Key` (gateway → manager): its effect and its answer are
// committed together, so a retry gets the first answer back instead of a second effect.

/// Carries one effect message (the JSON text of `effect`, of type `effectType`) under a key. The
/// manager answers with what the effect answered, the first time or from its record of it.
public struct IdempotentCall: GatewayRequest {
    public static let type = "idempotent.call"
    public typealias Reply = IdempotentReply

    /// The messages whose effect a key guards: every one a `POST` of the API sends.
    public static let effectTypes: Set<String> = [
        CreateCampaign.type, UploadContacts.type, FinishContactUpload.type,
        StartCampaign.type, PauseCampaign.type, ResumeCampaign.type, CancelCampaign.type,
        AddDNC.type, OptOutContact.type, AddNumber.type,
        AddWebhook.type, RotateWebhookSecret.type, Redeliver.type,
    ]

    /// The longest key (bytes of printable ASCII).
    public static let maxKeyBytes = 255

    /// How long a key's record answers retries.
    public static let retentionMilliseconds: Int64 = 24 * 3600 * 1000

    public var account: String
    public var key: String
    /// A digest of the request (method, path, query, content type and body): a key sent again
    /// with a different request is refused, not replayed.
    public var fingerprint: String
    public var effectType: String
    public var effect: String

    public init<Effect: RPCMessage>(account: String, key: String, fingerprint: String, effect: Effect) throws {
        self.account = account
        self.key = key
        self.fingerprint = fingerprint
        effectType = Effect.type
        self.effect = String(decoding: try JSONValueEncoder.encode(effect).serialized(), as: UTF8.self)
    }
}

public struct IdempotentReply: Codable, Sendable, Equatable {
    /// True when `reply` is the record of an earlier request's answer.
    public var replayed: Bool
    /// The effect's reply, as JSON text.
    public var reply: String

    public init(replayed: Bool, reply: String) {
        self.replayed = replayed
        self.reply = reply
    }

    public func decoded<Reply: Decodable>(as type: Reply.Type) throws -> Reply {
        try JSONValueDecoder.decode(Reply.self, from: try JSONParser.parse(reply))
    }
}
