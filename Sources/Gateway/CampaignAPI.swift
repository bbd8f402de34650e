import Dialing
import HTTP1
import JSON
import Protocol
import Resources
import RPC
import Runtime
import Telephony

/// The Campaigns REST API (`/v1/campaigns…`): validates input, asks the manager, renders.
struct CampaignAPI: Sendable {
    let manager: RPCClient
    let maxContactsPerUpload: Int
    /// Rows one CSV upload may hold (it is streamed, so this bounds the manager's staging, not memory).
    var maxCSVContacts = 1_000_000
    /// The shortest redial delay a retry policy may ask for: 60 s, lowered only for tests.
    var minimumRetryDelay = RetryPolicy.delayLimit.lowerBound

    static let campaignFields: Set<String> = ["name", "agent_id", "call_from_number", "default_country", "calling_window", "timezone",
                                              "retry_policy", "start_at", "end_at", "max_concurrent_calls", "calls_per_second",
                                              "machine_detection", "machine_detection_time"]
    static let contactFields: Set<String> = ["phone_number", "variables", "timezone"]
    static let defaultPageSize = 50
    static let maxPageSize = 1000

    func register(in router: inout Router) {
        router.add("POST", "/v1/campaigns", createCampaign)
        router.add("GET", "/v1/campaigns", listCampaigns)
        router.add("GET", "/v1/campaigns/:id", getCampaign)
        router.add("GET", "/v1/campaigns/:id/stats", getStats)
        router.add("PUT", "/v1/campaigns/:id", updateCampaign)
        router.add("DELETE", "/v1/campaigns/:id", deleteCampaign)
        router.add("POST", "/v1/campaigns/:id/contacts", uploadContacts)
        router.add("GET", "/v1/campaigns/:id/contacts", listContacts)
        router.add("GET", "/v1/campaigns/:id/contacts.csv", exportContacts)
        router.add("GET", "/v1/campaigns/:id/contacts/:contact_id", getContact)
    }

    /// Calls the manager; its errors become HTTP errors. The effect of a request sent with an
    /// idempotency key goes under the key (unless `idempotent` is false: an upload's abort).
    func ask<Message: RPCMessage>(_ message: Message, _ context: RequestContext, timeout: Double = 30, idempotent: Bool = true) async throws -> Message.Reply {
        do {
            if idempotent, let idempotency = context.idempotency, IdempotentCall.effectTypes.contains(Message.type) {
                guard let fingerprint = idempotency.fingerprint else { throw APIError(500, "internal_error", "internal error") }
                let call = try IdempotentCall(account: context.account, key: idempotency.key, fingerprint: fingerprint, effect: message)
                let answer = try await manager.call(call, requestID: context.requestID, timeout: timeout)
                idempotency.replayed = answer.replayed
                return try answer.decoded(as: Message.Reply.self)
            }
            return try await manager.call(message, requestID: context.requestID, timeout: timeout)
        } catch let error as RemoteError {
            throw APIError(remote: error)
        }
    }

    // MARK: Campaigns

    @Sendable func createCampaign(_ context: RequestContext) async throws -> HTTPResponse {
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: Self.campaignFields)
        let name = reader.text("name", required: true, maxLength: FieldLimits.nameLength)
        let agentID = reader.agentID("agent_id", required: true)
        let country = reader.country("default_country")
        let callFrom = reader.phoneNumber("call_from_number", required: false, defaultCountry: country)
        let window = reader.callingWindow("calling_window", allowBeyondTCPA: Self.isBeyondNANP(country))
        let zone = reader.timezone("timezone")
        let policy = reader.retryPolicy("retry_policy", minimumDelay: minimumRetryDelay)
        let (startAt, endAt) = Self.schedule(&reader)
        guard reader.errors.isEmpty, let name, let agentID else { throw APIError.invalid(reader.errors) }
        var create = CreateCampaign(account: context.account, name: name, agentID: agentID, callFromNumber: callFrom, defaultCountry: country,
                                    callingWindow: window, timezone: zone, retryPolicy: policy)
        create.startAt = startAt
        create.endAt = endAt
        (create.maxConcurrentCalls, create.callsPerSecond) = Self.limits(&reader)
        (create.machineDetection, create.machineDetectionTime) = Self.machineDetection(&reader)
        guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        let record = try await ask(create, context)
        return .json(201, .object([("status", .string("created")), ("campaign_id", .string(record.id))]),
                     headers: [("Location", "/v1/campaigns/\(record.id)")])
    }

    @Sendable func listCampaigns(_ context: RequestContext) async throws -> HTTPResponse {
        let (limit, cursor) = try pagination(context.query, allowed: ["limit", "cursor"], cursorKind: "cmp")
        let page = try await ask(ListCampaigns(account: context.account, limit: limit, before: cursor), context)
        return .json(200, .object([
            ("campaigns", .array(page.campaigns.map(Render.campaign))),
            ("next_cursor", Cursor.encode(kind: "cmp", position: page.nextBefore)),
        ]))
    }

    @Sendable func getCampaign(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        return .json(200, Render.campaign(try await ask(GetCampaign(account: context.account, campaignID: id), context)))
    }

    @Sendable func getStats(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        try context.refuseQueryParameters()
        let stats = try await ask(GetCampaignStats(account: context.account, campaignID: id, now: Timestamp.nowMilliseconds()), context)
        return .json(200, Render.stats(stats, campaignID: id))
    }

    @Sendable func updateCampaign(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: Self.campaignFields)
        if reader.members.isEmpty {
            reader.fail("body", "names no field to change (known: \(Self.campaignFields.sorted().joined(separator: ", ")))")
        }
        let name = reader.value("name") == nil ? nil : reader.text("name", required: true, maxLength: FieldLimits.nameLength)
        let agentID = reader.value("agent_id") == nil ? nil : reader.agentID("agent_id", required: true)
        // `null` clears the default country; a national caller ID is read in the new one, or else
        // in the one the campaign has.
        let country: String? = switch reader.value("default_country") {
        case nil: nil
        case .null?: ""
        default: reader.country("default_country")
        }
        // The campaign's own country, when the body does not change it, for reading a national
        // caller ID and for the TCPA's hours.
        var effectiveCountry = country.flatMap { $0.isEmpty ? nil : $0 }
        if country == nil, reader.value("call_from_number") != nil || reader.value("calling_window") != nil {
            effectiveCountry = try await ask(GetCampaign(account: context.account, campaignID: id), context).defaultCountry
        }
        var callFrom: String?
        if reader.value("call_from_number") != nil {
            callFrom = reader.phoneNumber("call_from_number", required: true, defaultCountry: effectiveCountry)
        }
        // `null` puts back the default window, and clears the zone.
        let window: String? = reader.value("calling_window") == .null ? ""
            : reader.callingWindow("calling_window", allowBeyondTCPA: Self.isBeyondNANP(effectiveCountry))
        let zone: String? = reader.value("timezone") == .null ? "" : reader.timezone("timezone")
        // `null` (or `{}`) is no redial.
        let policy: String? = reader.value("retry_policy") == .null ? "" : reader.retryPolicy("retry_policy", minimumDelay: minimumRetryDelay)
        // `null` clears either time.
        var (startAt, endAt) = Self.schedule(&reader)
        if reader.value("start_at") == .null { startAt = 0 }
        if reader.value("end_at") == .null { endAt = 0 }
        var (maxConcurrentCalls, callsPerSecond) = Self.limits(&reader)
        if reader.value("max_concurrent_calls") == .null { maxConcurrentCalls = 0 }
        if reader.value("calls_per_second") == .null { callsPerSecond = 0 }
        guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        var update = UpdateCampaign(account: context.account, campaignID: id, name: name, agentID: agentID, callFromNumber: callFrom,
                                    defaultCountry: country, callingWindow: window, timezone: zone, retryPolicy: policy)
        update.startAt = startAt
        update.endAt = endAt
        update.maxConcurrentCalls = maxConcurrentCalls
        update.callsPerSecond = callsPerSecond
        (update.machineDetection, update.machineDetectionTime) = Self.machineDetection(&reader)
        if reader.value("machine_detection_time") == .null { update.machineDetectionTime = 0 }
        guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        return .json(200, Render.campaign(try await ask(update, context)))
    }

    @Sendable func deleteCampaign(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        _ = try await ask(DeleteCampaign(account: context.account, campaignID: id), context, timeout: 120)
        return .json(200, .object([("status", .string("deleted")), ("id", .string(id))]))
    }

    /// `start_at` (any time: one already past starts at once) and `end_at` (in the future, and
    /// after `start_at` when both are given).
    static func schedule(_ reader: inout ObjectReader) -> (startAt: Int64?, endAt: Int64?) {
        let startAt = reader.dateTime("start_at")
        let endAt = reader.dateTime("end_at", notBefore: Timestamp.nowMilliseconds())
        if let startAt, let endAt, endAt <= startAt { reader.fail("end_at", "must be after start_at") }
        return (startAt, endAt)
    }

    /// The campaign's own `max_concurrent_calls` (1–100,000) and `calls_per_second` (more than 0,
    /// at most 1,000); the deployment's limits always hold too.
    static func limits(_ reader: inout ObjectReader) -> (maxConcurrentCalls: Int?, callsPerSecond: Double?) {
        var limit: Int?
        if let value = reader.value("max_concurrent_calls"), value != .null {
            limit = reader.integer("max_concurrent_calls", in: 1...100_000, meaning: "calls")
        }
        var rate: Double?
        if let value = reader.value("calls_per_second"), value != .null {
            if let number = value.doubleValue, number > 0, number <= 1000, number.isFinite {
                rate = number
            } else {
                reader.fail("calls_per_second", "must be a number of calls per second above 0 and at most 1000")
            }
        }
        return (limit, rate)
    }

    /// `machine_detection` (`off`, `detect`, `hangup`) and `machine_detection_time` (ms, 2000–10000).
    static func machineDetection(_ reader: inout ObjectReader) -> (mode: String?, time: Int?) {
        var mode: String?
        if let value = reader.value("machine_detection") {
            if let text = value.stringValue, ["off", "detect", "hangup"].contains(text) {
                mode = text
            } else {
                reader.fail("machine_detection", "must be off, detect or hangup")
            }
        }
        var time: Int?
        if let value = reader.value("machine_detection_time"), value != .null {
            time = reader.integer("machine_detection_time", in: 2000...10_000, meaning: "milliseconds")
        }
        return (mode, time)
    }

    /// A campaign for a country outside the NANP may ask for hours beyond the TCPA's (its +1
    /// callees, if any, still get only 08:00-21:00).
    static func isBeyondNANP(_ country: String?) -> Bool {
        guard let country, let plan = NumberingPlan.forRegion(country) else { return false }
        return plan.callingCode != "1"
    }

    // MARK: Contacts

    @Sendable func uploadContacts(_ context: RequestContext) async throws -> HTTPResponse {
        if Self.isCSV(context.request) { return try await uploadCSV(context) }
        let id = try campaignID(context)
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: ["contacts"])
        guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        guard let list = reader.value("contacts") else { throw APIError.invalid([FieldError("contacts", "is required")]) }
        guard let items = list.arrayValue else {
            throw APIError.invalid([FieldError("contacts", "must be an array, not \(list.typeName)")])
        }
        guard !items.isEmpty else { throw APIError.invalid([FieldError("contacts", "must not be empty")]) }
        guard items.count <= maxContactsPerUpload else {
            throw APIError(413, "too_many_contacts", "one upload may hold at most \(maxContactsPerUpload) contacts; split the list")
        }
        // National numbers are read in the campaign's default country.
        let campaign = try await ask(GetCampaign(account: context.account, campaignID: id), context)
        let contacts = try Self.validateContacts(items, defaultCountry: campaign.defaultCountry)
        let result = try await ask(UploadContacts(account: context.account, campaignID: id, contacts: contacts), context, timeout: 120)
        return .json(201, .object([
            ("status", .string("success")),
            ("inserted_count", .int(result.inserted)),
            ("skipped_duplicates", .int(result.duplicates)),
        ]))
    }

    /// All or nothing: every row is checked, and any error refuses the whole upload.
    static func validateContacts(_ items: [JSONValue], defaultCountry: String? = nil) throws(APIError) -> [NewContact] {
        var contacts: [NewContact] = []
        contacts.reserveCapacity(items.count)
        var errors: [FieldError] = []
        var invalidRows = 0
        for (index, item) in items.enumerated() {
            guard let members = item.objectMembers else {
                invalidRows += 1
                if errors.count < FieldLimits.reportedErrors {
                    errors.append(FieldError("contacts[\(index)]", "must be an object, not \(item.typeName)", index: index))
                }
                continue
            }
            var reader = ObjectReader(members, index: index)
            reader.rejectUnknown(allowing: contactFields)
            let phone = reader.phoneNumber("phone_number", required: true, defaultCountry: defaultCountry)
            let zone = reader.timezone("timezone")
            var variables = "{}"
            if let value = reader.value("variables"), value != .null {
                if value.objectMembers == nil {
                    reader.fail("variables", "must be an object, not \(value.typeName)")
                } else {
                    let text = value.serialized()
                    if text.count > FieldLimits.variablesBytes {
                        reader.fail("variables", "must be at most \(FieldLimits.variablesBytes) bytes as JSON")
                    }
                    variables = String(decoding: text, as: UTF8.self)
                }
            }
            if let phone, reader.errors.isEmpty {
                contacts.append(NewContact(phoneNumber: phone, variables: variables, timezone: zone))
            } else {
                invalidRows += 1
                errors.append(contentsOf: reader.errors.prefix(max(0, FieldLimits.reportedErrors - errors.count)))
            }
        }
        guard invalidRows == 0 else {
            throw APIError(422, "invalid_contacts", "\(invalidRows) of \(items.count) contacts are invalid; nothing was inserted",
                           details: .array(errors.map(\.json)))
        }
        return contacts
    }

    @Sendable func listContacts(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        let (limit, cursor) = try pagination(context.query, allowed: ["limit", "cursor", "status"], cursorKind: "ct")
        var status: ContactStatus?
        if let text = context.query["status"] {
            guard let parsed = ContactStatus(rawValue: text) else {
                let known = ContactStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError.invalid([FieldError("status", "must be one of \(known)")])
            }
            status = parsed
        }
        let page = try await ask(ListContacts(account: context.account, campaignID: id, status: status, limit: limit, after: cursor), context)
        return .json(200, .object([
            ("contacts", .array(page.contacts.map { Render.contact($0, attempts: false) })),
            ("next_cursor", Cursor.encode(kind: "ct", position: page.nextAfter)),
        ]))
    }

    /// Every contact with its outcome, as CSV, streamed a page at a time: the gateway holds one
    /// page (1,000 contacts) whatever the campaign's size, and writes no faster than the client reads.
    @Sendable func exportContacts(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        try context.refuseQueryParameters()
        // The first page is read before answering: a campaign that does not exist is a 404, not a
        // broken download.
        let account = context.account
        let first = try await ask(ListContacts(account: account, campaignID: id, status: nil, limit: Self.maxPageSize, after: nil), context)
        let manager = self.manager
        let requestID = context.requestID
        var response = HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/csv; charset=utf-8"), ("Content-Disposition", "attachment; filename=\"\(id)-contacts.csv\""),
        ])
        response.bodyStream = { writer in
            try await writer.write(ContactCSV.header)
            var page = first
            while true {
                try await writer.write(ContactCSV.rows(page.contacts))
                guard let after = page.nextAfter else { return }
                page = try await manager.call(ListContacts(account: account, campaignID: id, status: nil, limit: Self.maxPageSize, after: after),
                                              requestID: requestID, timeout: 30)
            }
        }
        return response
    }

    @Sendable func getContact(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        let contact = try await ask(GetContact(account: context.account, campaignID: id, contactID: context.parameters[1]), context)
        return .json(200, Render.contact(contact, attempts: true))
    }

    // MARK: Shared parameter checks

    /// A well-formed campaign id; anything else cannot exist, so it is a 404 like a missing one.
    func campaignID(_ context: RequestContext) throws(APIError) -> String {
        let id = context.parameters[0]
        guard id.hasPrefix("cmp_"), id.utf8.count == 40 else { throw APIError.notFound("campaign \(id) not found") }
        return id
    }

    func pagination(_ query: [String: String], allowed: Set<String>, cursorKind: String) throws(APIError) -> (Int, Int64?) {
        var errors: [FieldError] = []
        for key in query.keys.sorted() where !allowed.contains(key) {
            errors.append(FieldError(key, "is not a known query parameter (known: \(allowed.sorted().joined(separator: ", ")))"))
        }
        var limit = Self.defaultPageSize
        if let text = query["limit"] {
            if let value = Int(text), (1...Self.maxPageSize).contains(value) {
                limit = value
            } else {
                errors.append(FieldError("limit", "must be a whole number from 1 to \(Self.maxPageSize)"))
            }
        }
        guard errors.isEmpty else { throw APIError.invalid(errors) }
        return (limit, try Cursor.decode(query["cursor"], kind: cursorKind))
    }
}
