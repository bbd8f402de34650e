import CSV
import Crypto
import HTTP1
import JSON
import Protocol

/// `POST /v1/campaigns/:id/contacts` with `Content-Type: text/csv`: the file is read as it
/// arrives, its rows checked one by one and staged on the manager a batch at a time, and
/// inserted together at the end, all or nothing (or, with `?on_invalid=skip`, the valid ones,
/// the rejected listed). The gateway holds one piece of the body and one batch, whatever the
/// file's size.
extension CampaignAPI {
    static let csvBatch = 10_000
    /// Rejected rows listed in a `?on_invalid=skip` answer (all are counted).
    static let listedRejections = 1_000

    static func isCSV(_ request: HTTPRequest) -> Bool {
        let type = request.header("Content-Type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        return type == "text/csv"
    }

    @Sendable func uploadCSV(_ context: RequestContext) async throws -> HTTPResponse {
        let id = try campaignID(context)
        if let encoding = context.request.header("Content-Encoding"), encoding.lowercased() != "identity" {
            throw APIError(415, "unsupported_media_type", "Content-Encoding \(encoding) is not supported; send the body uncompressed")
        }
        var query = ObjectReader(context.query.map { ($0.key, JSONValue.string($0.value)) })
        query.rejectUnknown(allowing: ["default_country", "on_invalid"])
        let country = query.country("default_country")
        let skipInvalid: Bool
        switch context.query["on_invalid"] {
        case nil, "reject": skipInvalid = false
        case "skip": skipInvalid = true
        default:
            query.fail("on_invalid", "must be reject (the default: any invalid row refuses the upload) or skip")
            skipInvalid = false
        }
        guard query.errors.isEmpty else { throw APIError.invalid(query.errors) }
        let session = try await ask(BeginContactUpload(account: context.account, campaignID: id), context)
        var contacts = CSVContacts(defaultCountry: country ?? session.defaultCountry, maxRows: maxCSVContacts,
                                   listed: skipInvalid ? Self.listedRejections : FieldLimits.reportedErrors)
        var staged = 0
        // One batch is staged while the next is read: the gateway and the manager work at once.
        var staging: Task<Void, any Error>?
        // A key's fingerprint covers the file, so it is known when the file has gone by.
        var digest = context.idempotency.map { _ in IdempotencyRequest.digest(of: context.request) }
        do {
            var reader = CSVReader()
            func read(_ piece: [UInt8]) throws {
                do {
                    try reader.feed(piece) { record in try contacts.take(record) }
                } catch let problem as CSVReader.Problem {
                    throw CSVContacts.unreadable(problem)
                }
            }
            /// Stages the rows waiting, unless a refused row has already doomed the upload.
            func stage() async throws {
                guard !contacts.batch.isEmpty else { return }
                let batch = contacts.batch
                contacts.batch = ContactBatch()
                guard skipInvalid || contacts.invalidRows == 0 else { return }
                try await staging?.value
                let message = StageContacts(account: context.account, token: session.token, batch: batch)
                staging = Task { _ = try await ask(message, context, timeout: 60) }
                staged += batch.count
            }
            if let body = context.request.bodyStream {
                for try await piece in body {
                    digest?.update(piece)
                    try read(piece)
                    if contacts.batch.count >= Self.csvBatch { try await stage() }
                }
            } else {
                digest?.update(context.request.body)
                try read(context.request.body)
            }
            if var digest { context.idempotency?.fingerprint = Hex.encode(digest.finalize()) }
            do {
                try reader.finish { record in try contacts.take(record) }
            } catch let problem as CSVReader.Problem {
                throw CSVContacts.unreadable(problem)
            }
            try await stage()
            try await staging?.value
            guard contacts.columns != nil else { throw APIError(422, "invalid_csv", "the file is empty: send a header row and at least one row") }
            guard contacts.rows > 0 else { throw APIError(422, "invalid_csv", "the file has a header row but no rows; nothing was inserted") }
            if contacts.invalidRows > 0, !skipInvalid {
                throw APIError(422, "invalid_contacts", "\(contacts.invalidRows) of \(contacts.rows) rows are invalid; nothing was inserted",
                               details: .array(contacts.errors.map(\.json)))
            }
        } catch {
            _ = try? await staging?.value
            _ = try? await ask(FinishContactUpload(account: context.account, token: session.token, commit: false, staged: staged), context,
                               idempotent: false)
            throw error
        }
        let result = try await ask(FinishContactUpload(account: context.account, token: session.token, commit: true, staged: staged), context,
                                   timeout: 120)
        var members: [(key: String, value: JSONValue)] = [
            ("status", .string("success")), ("inserted_count", .int(result.inserted)), ("skipped_duplicates", .int(result.duplicates)),
        ]
        if skipInvalid {
            members.append(("rejected_count", .int(contacts.invalidRows)))
            members.append(("rejected", .array(contacts.errors.map(\.json))))
        }
        return .json(201, .object(members))
    }
}
