import HTTP1
import JSON
import Protocol
import Resources
import RPC
import Telephony

/// Campaign lifecycle (`start`, `pause`, `resume`, `cancel`) and the Do-Not-Call list (`/v1/dnc`).
struct DialingAPI: Sendable {
    let campaigns: CampaignAPI

    static let maxNumbersPerRequest = 100_000

    func register(in router: inout Router) {
        router.add("POST", "/v1/campaigns/:id/start", start)
        router.add("POST", "/v1/campaigns/:id/pause", pause)
        router.add("POST", "/v1/campaigns/:id/resume", resume)
        router.add("POST", "/v1/campaigns/:id/cancel", cancel)
        router.add("POST", "/v1/dnc", addNumbers)
        router.add("GET", "/v1/dnc", listNumbers)
        router.add("DELETE", "/v1/dnc/:phone_number", removeNumber)
        router.add("POST", "/v1/campaigns/:id/contacts/:contact_id/opt-out", optOut)
    }

    /// The callee asked not to be called again (the customer's agent calls this mid-call): the
    /// contact's number goes on the account's Do-Not-Call list. Answered once no call to it can
    /// still be placed.
    @Sendable func optOut(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaigns.campaignID(context)
        let contactID = context.parameters[1]
        if !context.request.body.isEmpty {
            var reader = ObjectReader(try jsonObjectBody(context.request))
            reader.rejectUnknown(allowing: [])
            guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        }
        let result = try await campaigns.ask(OptOutContact(account: context.account, campaignID: id, contactID: contactID), context)
        return .json(200, .object([
            ("status", .string("opted_out")),
            ("phone_number", .string(result.entry.phoneNumber)),
            ("contact_id", .string(contactID)),
            ("already_listed", .bool(result.alreadyListed)),
            ("entry", Self.render(result.entry)),
        ]))
    }

    static func render(_ entry: DNCEntry) -> JSONValue {
        .object([
            ("phone_number", .string(entry.phoneNumber)), ("created_at", Render.time(entry.createdAt)),
            ("source", .string(entry.source)), ("contact_id", entry.contactID.map(JSONValue.string) ?? .null),
        ])
    }

    @Sendable func start(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaigns.campaignID(context)
        let result = try await campaigns.ask(StartCampaign(account: context.account, campaignID: id), context, timeout: 120)
        return .json(200, .object([
            ("message", .string("Campaign Dispatched Successfully")),
            ("contacts_dialed", .int(result.queued)),
            ("contacts_skipped_dnc", .int(result.skippedDNC)),
        ]))
    }

    @Sendable func pause(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaigns.campaignID(context)
        _ = try await campaigns.ask(PauseCampaign(account: context.account, campaignID: id), context)
        return .json(200, .object([("status", .string("paused")), ("id", .string(id))]))
    }

    @Sendable func resume(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaigns.campaignID(context)
        _ = try await campaigns.ask(ResumeCampaign(account: context.account, campaignID: id), context)
        return .json(200, .object([("status", .string("running")), ("id", .string(id))]))
    }

    @Sendable func cancel(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaigns.campaignID(context)
        _ = try await campaigns.ask(CancelCampaign(account: context.account, campaignID: id), context)
        return .json(200, .object([("status", .string("canceled")), ("id", .string(id))]))
    }

    @Sendable func addNumbers(_ context: RequestContext) async throws -> HTTPResponse {
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: ["phone_numbers", "default_country"])
        let country = reader.country("default_country")
        guard reader.errors.isEmpty else { throw APIError.invalid(reader.errors) }
        guard let value = reader.value("phone_numbers") else { throw APIError.invalid([FieldError("phone_numbers", "is required")]) }
        guard let items = value.arrayValue else {
            throw APIError.invalid([FieldError("phone_numbers", "must be an array of strings, not \(value.typeName)")])
        }
        guard !items.isEmpty else { throw APIError.invalid([FieldError("phone_numbers", "must not be empty")]) }
        guard items.count <= Self.maxNumbersPerRequest else {
            throw APIError(413, "too_many_numbers", "one request may add at most \(Self.maxNumbersPerRequest) numbers")
        }
        var numbers: [String] = []
        var errors: [FieldError] = []
        var invalid = 0
        for (index, item) in items.enumerated() {
            let result = item.stringValue.map { PhoneNumber.canonical($0, defaultCountry: country) }
                ?? .failure(PhoneNumber.Invalid("must be a string, not \(item.typeName)"))
            switch result {
            case .success(let number): numbers.append(number)
            case .failure(let reason):
                invalid += 1
                if errors.count < FieldLimits.reportedErrors { errors.append(FieldError("phone_numbers[\(index)]", reason.reason, index: index)) }
            }
        }
        guard invalid == 0 else {
            throw APIError(422, "invalid_phone_numbers", "\(invalid) of \(items.count) numbers are invalid; nothing was added",
                           details: .array(errors.map(\.json)))
        }
        let result = try await campaigns.ask(AddDNC(account: context.account, numbers: numbers), context, timeout: 120)
        return .json(201, .object([
            ("status", .string("success")),
            ("added_count", .int(result.added)),
            ("already_listed_count", .int(result.alreadyListed)),
        ]))
    }

    @Sendable func listNumbers(_ context: RequestContext) async throws -> HTTPResponse {
        // Numbers are digits, so the last number of a page is its position.
        let (limit, cursor) = try campaigns.pagination(context.query, allowed: ["limit", "cursor"], cursorKind: "dnc")
        let page = try await campaigns.ask(ListDNC(account: context.account, limit: limit, after: cursor.map(String.init)), context)
        // `phone_numbers` mirrors the POST body; `entries` adds when each number was listed.
        return .json(200, .object([
            ("phone_numbers", .array(page.entries.map { .string($0.phoneNumber) })),
            ("entries", .array(page.entries.map(Self.render))),
            ("next_cursor", Cursor.encode(kind: "dnc", position: page.nextAfter.flatMap { Int64($0) })),
        ]))
    }

    @Sendable func removeNumber(_ context: RequestContext) async throws -> HTTPResponse {
        // `?default_country=` reads a national number; without it the number needs its country code.
        guard case .success(let number) = PhoneNumber.canonical(context.parameters[0], defaultCountry: context.query["default_country"]) else {
            throw APIError.notFound("\(context.parameters[0]) is not on the Do-Not-Call list")
        }
        _ = try await campaigns.ask(RemoveDNC(account: context.account, number: number), context)
        return .json(200, .object([("status", .string("deleted")), ("phone_number", .string(number))]))
    }
}
