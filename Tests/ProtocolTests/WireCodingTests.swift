import Foundation
import JSON
import Protocol
import Testing

/// The hand-written JSON of the bulk types must read what Codable writes, and read itself whether
/// the parser kept the variables as text or built them; the generic Codable bridge must
/// round-trip every shape messages use.
@Suite struct WireCodingTests {
    static let contact = ContactRecord(
        id: "ct_7", campaignID: "cmp_1", phoneNumber: "14155550101", variables: #"{"name":"Zoë \"Z\"","n":[1,2.5]}"#,
        status: .completed, createdAt: 1_700_000_000_123, updatedAt: 1_700_000_000_999,
        call: CallDetails(requestUUID: "r-1", callUUID: "c-1", hangupCause: "NORMAL_CLEARING", hangupCauseCode: 4000,
                          dialedAt: 1_700_000_000_200, endedAt: 1_700_000_000_900, durationSeconds: 12)
    )

    @Test func handWrittenContactPageMatchesCodable() throws {
        let page = ContactPage(contacts: [Self.contact, ContactRecord(id: "ct_8", campaignID: "cmp_1", phoneNumber: "1", variables: "{}",
                                                                        status: .pending, createdAt: 1, updatedAt: 2)], nextAfter: 8)
        let fast = page.json.serialized()
        for depth in [3, Int.max] {
            let back = try ContactPage(json: JSONParser.parse(fast, verbatimBelow: depth))
            #expect(back.contacts == page.contacts && back.nextAfter == 8)
        }
        #expect(String(decoding: fast, as: UTF8.self).contains(#""variables":{"name":"Zoë \"Z\"","n":[1,2.5]}"#))
        let viaFoundation = try JSONParser.parse([UInt8](JSONEncoder().encode(page)))
        let decoded = try ContactPage(json: viaFoundation)
        #expect(decoded.contacts == page.contacts && decoded.nextAfter == 8)
    }

    @Test func handWrittenUploadMatchesCodable() throws {
        let upload = UploadContacts(account: "acct", campaignID: "cmp_2", contacts: [NewContact(phoneNumber: "1415", variables: #"{"a":"\n"}"#)])
        let back = try UploadContacts(json: JSONParser.parse(upload.json.serialized(), verbatimBelow: 3))
        #expect(back.contacts == upload.contacts && back.account == "acct" && back.campaignID == "cmp_2")
        let again = try UploadContacts(json: JSONParser.parse([UInt8](JSONEncoder().encode(upload))))
        #expect(again.contacts == upload.contacts)
    }

    @Test func codableBridgeRoundTripsMessages() throws {
        let campaign = CampaignRecord(id: "cmp_1", name: "Spring", agentID: "agent", callFromNumber: nil, status: .paused,
                                      createdAt: 1, updatedAt: 2, counts: ContactCounts(pending: 3, failed: 1), pausedReason: "plivo_auth_failed")
        let value = try JSONValueEncoder.encode(campaign)
        #expect(try JSONDecoder().decode(CampaignRecord.self, from: Data(campaign.json.serialized())) == campaign)
        #expect(try CampaignRecord(json: JSONParser.parse([UInt8](JSONEncoder().encode(campaign)))) == campaign)
        #expect(value["callFromNumber"] == nil)
        #expect(try JSONValueDecoder.decode(CampaignRecord.self, from: value) == campaign)
        let text = value.serialized()
        #expect(try JSONDecoder().decode(CampaignRecord.self, from: Data(text)) == campaign)

        let update = UpdateCampaign(account: "a", campaignID: "cmp_1", name: "n", agentID: nil, callFromNumber: "1415")
        let updated = try JSONValueDecoder.decode(UpdateCampaign.self, from: JSONValueEncoder.encode(update))
        #expect(updated.name == "n" && updated.agentID == nil && updated.callFromNumber == "1415")
    }

    @Test func decoderRejectsWrongShapesWithoutCrashing() {
        #expect(throws: (any Error).self) { try JSONValueDecoder.decode(CampaignRecord.self, from: .array([])) }
        #expect(throws: (any Error).self) { try JSONValueDecoder.decode(Int8.self, from: .number("300")) }
        #expect(throws: (any Error).self) { try ContactRecord(json: .object([("id", .int(1))])) }
        #expect(throws: (any Error).self) { try JSONValueEncoder.encode(Double.nan) }
    }

    /// A dialer learns what placing a call needs and nothing of the contact's variables.
    @Test func anOfferCarriesNoContactVariables() throws {
        let offer = PlaceCall(attempt: 1, account: "acme", campaignID: "cmp_1", contactID: "ct_7", agentID: "agent_42",
                              from: "14155550100", to: "14155550101", leaseMilliseconds: 2000)
        let line = try OutgoingEnvelope(id: 1, type: PlaceCall.type, requestID: nil, body: offer).encodedLine()
        let body = try JSONParser.parse(line.dropLast())["body"]
        guard case .object(let members)? = body else { throw WireTestFailure() }
        #expect(Set(members.map(\.key)) == ["attempt", "account", "campaignID", "contactID", "agentID", "from", "to", "leaseMilliseconds"])
    }

    /// Which role may send what: the gateway's API, the dialers' placements, the manager's offers.
    @Test func everyMessageNamesItsSenders() {
        #expect(ListContacts.senders == [.gateway])
        #expect(RemoveDNC.senders == [.gateway])
        #expect(RecordCallEvent.senders == [.gateway])
        #expect(StartCampaign.senders == [.gateway])
        #expect(RegisterDialer.senders == [.dialer])
        #expect(ReportPlacement.senders == [.dialer])
        #expect(BeginCall.senders == [.dialer])
        #expect(PlaceCall.senders == [.manager])
        #expect(DNCUpdate.senders == [.manager])
        #expect(LookupCall.senders == [.manager])
        #expect(Ping.senders == [.gateway, .dialer])
    }
}

struct WireTestFailure: Error {}

/// A CSV upload's batches between gateway and manager: lines of three tab-separated fields.
@Suite struct ContactBatchTests {
    func read(_ text: String) throws -> [[String]] {
        var contacts: [[String]] = []
        _ = try ContactBatch.forEachContact(in: text) { phone, variables, zone in
            contacts.append([phone, variables, zone].map { String(decoding: $0, as: UTF8.self) })
        }
        return contacts
    }

    @Test func whatIsWrittenIsReadBackInOrder() throws {
        var batch = ContactBatch()
        batch.append(phoneNumber: "14155550101", variables: Array(#"{"name":"Ada \"the first\"","note":"a\tb\nc"}"#.utf8), timezone: nil)
        batch.append(phoneNumber: "442079460958", variables: Array("{}".utf8), timezone: "Europe/London")
        #expect(batch.count == 2)
        // Compact JSON escapes control characters: a variable's tab or line break is \t or \n there.
        #expect(try read(batch.text) == [["14155550101", #"{"name":"Ada \"the first\"","note":"a\tb\nc"}"#, ""], ["442079460958", "{}", "Europe/London"]])
    }

    @Test(arguments: ["14155550101\t{}\n14155550102\t{}\n", "14155550101\t{}\t\tx\n", "\t{}\t\n", "14155550101\tnot json\t\n", "14155550101\t{}\t"])
    func aLineOfAnotherShapeIsRefused(_ text: String) {
        #expect(throws: RemoteError.self) { try read(text) }
    }
}
