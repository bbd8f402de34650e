import JSON

// Hand-written JSON for the types that cross the wire by the hundred thousand. The member names
// are the ones Codable synthesizes, so either side reads the other's lines (ProtocolTests check
// both ways); the one difference is that a contact's variables travel as the JSON object they
// are (the parser hands them on as text) instead of a string holding it.

extension NewContact: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        self.init(phoneNumber: try members.string("phoneNumber"), variables: try members.jsonText("variables"),
                  timezone: try members.optionalString("timezone"))
    }

    public var json: JSONValue {
        guard let timezone else { return .object([("phoneNumber", .string(phoneNumber)), ("variables", .verbatim(variables))]) }
        return .object([("phoneNumber", .string(phoneNumber)), ("variables", .verbatim(variables)), ("timezone", .string(timezone))])
    }
}

extension UploadContacts: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        self.init(account: try members.string("account"), campaignID: try members.string("campaignID"),
                  contacts: try members.array("contacts").map(NewContact.init(json:)))
    }

    public var json: JSONValue {
        .object([("account", .string(account)), ("campaignID", .string(campaignID)), ("contacts", .array(contacts.map(\.json)))])
    }
}

extension CallDetails: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        self.init(
            requestUUID: try members.optionalString("requestUUID"), callUUID: try members.optionalString("callUUID"),
            failureReason: try members.optionalString("failureReason"), failureDetail: try members.optionalString("failureDetail"),
            hangupCause: try members.optionalString("hangupCause"), hangupCauseCode: try members.optionalInteger("hangupCauseCode"),
            dialedAt: try members.optionalInt64("dialedAt"), answeredAt: try members.optionalInt64("answeredAt"),
            endedAt: try members.optionalInt64("endedAt"), durationSeconds: try members.optionalInteger("durationSeconds"),
            billDurationSeconds: try members.optionalInteger("billDurationSeconds")
        )
    }

    public var json: JSONValue {
        .object([
            "requestUUID": requestUUID.map(JSONValue.string), "callUUID": callUUID.map(JSONValue.string),
            "failureReason": failureReason.map(JSONValue.string), "failureDetail": failureDetail.map(JSONValue.string),
            "hangupCause": hangupCause.map(JSONValue.string), "hangupCauseCode": hangupCauseCode.map(JSONValue.int),
            "dialedAt": dialedAt.map(JSONValue.int64), "answeredAt": answeredAt.map(JSONValue.int64),
            "endedAt": endedAt.map(JSONValue.int64), "durationSeconds": durationSeconds.map(JSONValue.int),
            "billDurationSeconds": billDurationSeconds.map(JSONValue.int),
        ])
    }
}

extension ContactRecord: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        let statusText = try members.string("status")
        guard let status = ContactStatus(rawValue: statusText) else { throw Self.mismatch("a contact status", in: json) }
        self.init(
            id: try members.string("id"), campaignID: try members.string("campaignID"), phoneNumber: try members.string("phoneNumber"),
            variables: try members.jsonText("variables"), status: status, createdAt: try members.int64("createdAt"),
            updatedAt: try members.int64("updatedAt"), call: try CallDetails(json: members["call"] ?? .object([])),
            timezone: try members.optionalString("timezone"), windowOpensAt: try members.optionalInt64("windowOpensAt")
        )
        if let attempts = members["attempts"] {
            self.attempts = try JSONValueDecoder.decode([AttemptRecord].self, from: attempts)
        }
        attemptsMade = Int(try members.optionalInt64("attemptsMade") ?? 0)
        nextAttemptAt = try members.optionalInt64("nextAttemptAt")
        answeredBy = try members.optionalString("answeredBy")
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string(id)), ("campaignID", .string(campaignID)), ("phoneNumber", .string(phoneNumber)),
            ("variables", .verbatim(variables)), ("status", .string(status.rawValue)), ("createdAt", .int64(createdAt)),
            ("updatedAt", .int64(updatedAt)), ("call", call.json),
        ]
        if let timezone { members.append(("timezone", .string(timezone))) }
        if let windowOpensAt { members.append(("windowOpensAt", .int64(windowOpensAt))) }
        if attemptsMade > 0 { members.append(("attemptsMade", .int(attemptsMade))) }
        if let nextAttemptAt { members.append(("nextAttemptAt", .int64(nextAttemptAt))) }
        if let answeredBy { members.append(("answeredBy", .string(answeredBy))) }
        if !attempts.isEmpty, let encoded = try? JSONValueEncoder.encode(attempts) { members.append(("attempts", encoded)) }
        return .object(members)
    }
}

extension ContactPage: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        self.init(contacts: try members.array("contacts").map(ContactRecord.init(json:)), nextAfter: try members.optionalInt64("nextAfter"))
    }

    public var json: JSONValue {
        .object(["contacts": .array(contacts.map(\.json)), "nextAfter": nextAfter.map(JSONValue.int64)])
    }
}

extension ContactCounts: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        self.init(pending: try members.integer("pending"), dialed: try members.integer("dialed"), completed: try members.integer("completed"),
                  failed: try members.integer("failed"), skippedDNC: try members.integer("skippedDNC"), canceled: try members.integer("canceled"),
                  expired: try members.integer("expired"))
    }

    public var json: JSONValue {
        .object([("pending", .int(pending)), ("dialed", .int(dialed)), ("completed", .int(completed)), ("failed", .int(failed)),
                 ("skippedDNC", .int(skippedDNC)), ("canceled", .int(canceled)), ("expired", .int(expired))])
    }
}

extension CampaignRecord: JSONRepresentable {
    public init(json: JSONValue) throws {
        let members = try JSONMembers(json, of: Self.self)
        guard let status = CampaignStatus(rawValue: try members.string("status")) else { throw Self.mismatch("a campaign status", in: json) }
        self.init(
            id: try members.string("id"), name: try members.string("name"), agentID: try members.string("agentID"),
            callFromNumber: try members.optionalString("callFromNumber"), status: status, createdAt: try members.int64("createdAt"),
            updatedAt: try members.int64("updatedAt"), counts: try ContactCounts(json: members["counts"] ?? .null),
            pausedReason: try members.optionalString("pausedReason"), defaultCountry: try members.optionalString("defaultCountry"),
            callingWindow: try members.optionalString("callingWindow"), timezone: try members.optionalString("timezone"),
            waitingWindow: Int(try members.optionalInt64("waitingWindow") ?? 0), nextWindowOpensAt: try members.optionalInt64("nextWindowOpensAt")
        )
        retryPolicy = try members.optionalString("retryPolicy") ?? ""
        startAt = try members.optionalInt64("startAt")
        endAt = try members.optionalInt64("endAt")
        maxConcurrentCalls = try members.optionalInt64("maxConcurrentCalls").map(Int.init)
        callsPerSecond = members["callsPerSecond"]?.doubleValue
        machineDetection = try members.optionalString("machineDetection") ?? "off"
        machineDetectionTime = try members.optionalInt64("machineDetectionTime").map(Int.init)
    }

    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "agentID": .string(agentID), "callFromNumber": callFromNumber.map(JSONValue.string),
            "status": .string(status.rawValue), "createdAt": .int64(createdAt), "updatedAt": .int64(updatedAt), "counts": counts.json,
            "pausedReason": pausedReason.map(JSONValue.string), "defaultCountry": defaultCountry.map(JSONValue.string),
            "callingWindow": callingWindow.map(JSONValue.string), "timezone": timezone.map(JSONValue.string),
            "waitingWindow": .int(waitingWindow), "nextWindowOpensAt": nextWindowOpensAt.map(JSONValue.int64),
            "retryPolicy": .string(retryPolicy), "startAt": startAt.map(JSONValue.int64), "endAt": endAt.map(JSONValue.int64),
            "maxConcurrentCalls": maxConcurrentCalls.map(JSONValue.int), "callsPerSecond": callsPerSecond.map(JSONValue.double),
            "machineDetection": .string(machineDetection), "machineDetectionTime": machineDetectionTime.map(JSONValue.int),
        ])
    }
}
