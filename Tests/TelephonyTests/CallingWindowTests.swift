import Foundation
import Testing
@testable import Telephony

/// Calling windows as pure functions of (time, zone, window), on dates the tests choose.
@Suite struct CallingWindowTests {
    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    static let newYork = TimeZone(identifier: "America/New_York")!
    static let kolkata = TimeZone(identifier: "Asia/Kolkata")!
    static let lordHowe = TimeZone(identifier: "Australia/Lord_Howe")!
    let window = CallingWindow.tcpa

    @Test func theTCPAWindowInNewYorkAcrossSpringForward() {
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
        #expect(window.isOpen(at: Self.utc("2026-03-08T12:00:00Z"), in: Self.newYork))   // 08:00 EDT
        #expect(!window.isOpen(at: Self.utc("2026-03-08T11:59:00Z"), in: Self.newYork))  // 07:59 EDT
        #expect(!window.isOpen(at: Self.utc("2026-03-07T12:59:00Z"), in: Self.newYork))  // 07:59 EST the day before
        #expect(window.isOpen(at: Self.utc("2026-03-07T13:00:00Z"), in: Self.newYork))   // 08:00 EST
        #expect(window.nextOpening(atOrAfter: Self.utc("2026-03-08T05:00:00Z"), in: Self.newYork) == Self.utc("2026-03-08T12:00:00Z"))
        #expect(window.isOpen(at: Self.utc("2026-03-09T00:59:00Z"), in: Self.newYork))   // 20:59 EDT
        #expect(!window.isOpen(at: Self.utc("2026-03-09T01:00:00Z"), in: Self.newYork))  // 21:00 EDT
    }

    @Test func theTCPAWindowInNewYorkAcrossFallBack() {
        // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST.
        #expect(!window.isOpen(at: Self.utc("2026-11-01T12:59:00Z"), in: Self.newYork))  // 07:59 EST
        #expect(window.isOpen(at: Self.utc("2026-11-01T13:00:00Z"), in: Self.newYork))   // 08:00 EST
        #expect(window.nextOpening(atOrAfter: Self.utc("2026-11-01T02:00:00Z"), in: Self.newYork) == Self.utc("2026-11-01T13:00:00Z"))
        #expect(!window.isOpen(at: Self.utc("2026-11-02T02:00:00Z"), in: Self.newYork))  // 21:00 EST
    }

    @Test func halfHourAndLordHoweOffsets() {
        // Kolkata is +05:30 all year: 08:00 local is 02:30Z.
        #expect(!window.isOpen(at: Self.utc("2026-06-01T02:29:00Z"), in: Self.kolkata))
        #expect(window.isOpen(at: Self.utc("2026-06-01T02:30:00Z"), in: Self.kolkata))
        #expect(window.nextOpening(atOrAfter: Self.utc("2026-06-01T16:00:00Z"), in: Self.kolkata) == Self.utc("2026-06-02T02:30:00Z"))
        // Lord Howe: +10:30 in winter, +11:00 in summer (DST of half an hour).
        #expect(window.isOpen(at: Self.utc("2026-07-01T21:30:00Z"), in: Self.lordHowe))   // 08:00 +10:30
        #expect(!window.isOpen(at: Self.utc("2026-07-01T21:29:00Z"), in: Self.lordHowe))
        #expect(window.isOpen(at: Self.utc("2026-01-10T21:00:00Z"), in: Self.lordHowe))   // 08:00 +11:00
        #expect(!window.isOpen(at: Self.utc("2026-01-10T20:59:00Z"), in: Self.lordHowe))
    }

    @Test func weekdaysAndParsing() throws {
        let weekdays = try CallingWindow.parse(start: "09:00", end: "20:00", days: ["mon", "tue", "wed", "thu", "fri"]).get()
        // Saturday 2026-12-05 10:00 EST is closed; the next opening is Monday 09:00.
        #expect(!weekdays.isOpen(at: Self.utc("2026-12-05T15:00:00Z"), in: Self.newYork))
        #expect(weekdays.nextOpening(atOrAfter: Self.utc("2026-12-05T15:00:00Z"), in: Self.newYork) == Self.utc("2026-12-07T14:00:00Z"))
        #expect(weekdays.exceeds(.tcpa) == false)
        #expect(try CallingWindow.parse(start: "07:30", end: "20:00", days: nil).get().exceeds(.tcpa))
        #expect(try CallingWindow.parse(start: "09:00", end: "21:30", days: nil).get().exceeds(.tcpa))
        #expect(CallingWindow.parse(start: "9:00", end: "20:00", days: nil) == .failure(.init(field: "start", reason: "must be a time HH:MM, 00:00 to 23:59")))
        #expect(CallingWindow.parse(start: "20:00", end: "09:00", days: nil).map { _ in true } != .success(true))
        #expect(CallingWindow.parse(start: "09:00", end: "20:00", days: ["funday"]).map { _ in true } != .success(true))
        #expect(CallingWindow.parse(start: "09:00", end: "20:00", days: []).map { _ in true } != .success(true))
        #expect(try CallingWindow.parse(start: "00:00", end: "24:00", days: nil).get() == CallingWindow(start: 0, end: 1440))
    }

    @Test func theCalleesZoneComesFromTheContactTheAreaCodeTheCountryOrTheCampaign() throws {
        func zone(_ number: String, contact: String? = nil, campaign: String? = nil) -> (String, ZoneSource)? {
            guard case .success(let found) = TimeZones.zone(forNumber: number, contactZone: contact, campaignZone: campaign) else { return nil }
            return (found.zone.identifier, found.source)
        }
        #expect(zone("14155550100")! == ("America/Los_Angeles", .areaCode))
        #expect(zone("12125550100")! == ("America/New_York", .areaCode))
        #expect(zone("16025550100")! == ("America/Phoenix", .areaCode))
        #expect(zone("14155550100", contact: "Asia/Tokyo")! == ("Asia/Tokyo", .contact))
        #expect(zone("33612345678")! == ("Europe/Paris", .country))
        #expect(zone("919876543210")! == ("Asia/Kolkata", .country))
        // Several zones: the campaign's, or a reason.
        #expect(zone("61412345678") == nil)
        #expect(zone("61412345678", campaign: "Australia/Sydney")! == ("Australia/Sydney", .campaign))
        #expect(zone("18005550100") == nil)  // toll-free: no area
        if case .failure(let unknown) = TimeZones.zone(forNumber: "61412345678") { #expect(unknown.reason.contains("time zones")) }
        #expect(zone("14155550100", contact: "Mars/Olympus") == nil)
    }
}
