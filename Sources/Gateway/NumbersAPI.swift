import HTTP1
import JSON
import Protocol
import Resources
import Telephony

/// The numbers an account may call from (`/v1/numbers`): a campaign's `call_from_number` must be
/// one of them.
struct NumbersAPI: Sendable {
    let campaigns: CampaignAPI

    func register(in router: inout Router) {
        router.add("POST", "/v1/numbers", addNumber)
        router.add("GET", "/v1/numbers", listNumbers)
        router.add("DELETE", "/v1/numbers/:phone_number", removeNumber)
    }

    /// 201 with the number when added, 200 when the account had it already, 409 when another
    /// account holds it.
    @Sendable func addNumber(_ context: RequestContext) async throws -> HTTPResponse {
        var reader = ObjectReader(try jsonObjectBody(context.request))
        reader.rejectUnknown(allowing: ["phone_number", "default_country"])
        let country = reader.country("default_country")
        let number = reader.phoneNumber("phone_number", required: true, defaultCountry: country)
        guard reader.errors.isEmpty, let number else { throw APIError.invalid(reader.errors) }
        let result = try await campaigns.ask(AddNumber(account: context.account, phoneNumber: number), context)
        return .json(result.alreadyOwned ? 200 : 201, Self.render(result.number))
    }

    @Sendable func listNumbers(_ context: RequestContext) async throws -> HTTPResponse {
        try context.refuseQueryParameters()
        let list = try await campaigns.ask(ListNumbers(account: context.account), context)
        return .json(200, .object([("numbers", .array(list.numbers.map(Self.render)))]))
    }

    @Sendable func removeNumber(_ context: RequestContext) async throws -> HTTPResponse {
        guard case .success(let number) = PhoneNumber.canonical(context.parameters[0], defaultCountry: context.query["default_country"]) else {
            throw APIError.notFound("\(context.parameters[0]) is not one of this account's numbers")
        }
        _ = try await campaigns.ask(RemoveNumber(account: context.account, phoneNumber: number), context)
        return .json(200, .object([("status", .string("deleted")), ("phone_number", .string(number))]))
    }

    static func render(_ number: OwnedNumber) -> JSONValue {
        .object([("phone_number", .string(number.phoneNumber)), ("created_at", Render.time(number.createdAt))])
    }
}
