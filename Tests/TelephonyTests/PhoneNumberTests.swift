import Testing
@testable import Telephony

@Suite struct PhoneNumberTests {
    func canonical(_ raw: String, _ country: String? = nil) -> String? {
        try? PhoneNumber.canonical(raw, defaultCountry: country).get()
    }

    func reason(_ raw: String, _ country: String? = nil) -> String? {
        if case .failure(let invalid) = PhoneNumber.canonical(raw, defaultCountry: country) { return invalid.reason }
        return nil
    }

    /// The issue's own examples, and the seed's.
    @Test func nationalNumbersNeedACountry() {
        #expect(canonical("(415) 555-0100") == nil)
        #expect(reason("4155550100")?.contains("default_country") == true)
        #expect(canonical("4155550100", "US") == "14155550100")
        #expect(canonical("(415) 555-0100", "us") == "14155550100")
        #expect(canonical("15559990001") == "15559990001")
        #expect(canonical("+1 415 555 0100") == "14155550100")
        #expect(canonical("+1 (555) 999-0001") == "15559990001")
    }

    /// One person, written three ways, is one canonical number.
    @Test func threeSpellingsOfOneNumberAreOne() {
        let spellings = [canonical("+1 415 555 0100"), canonical("(415) 555-0100", "US"), canonical("1-415-555-0100")]
        #expect(Set(spellings.compactMap { $0 }) == ["14155550100"])
    }

    @Test func theNANPsRules() {
        #expect(canonical("+12125550100") != nil)                      // NPA 212, NXX 555
        #expect(reason("+11125550100")?.contains("NPA-NXX-XXXX") == true) // NPA starts with 1
        #expect(canonical("+10125550100") == nil)                      // NPA starts with 0
        #expect(canonical("+19125550100") != nil)                      // 912 is an NPA
        #expect(canonical("+12915550100") == nil)                      // 9 in the middle of the NPA
        #expect(canonical("+19115550100") == nil)                      // N11 NPA
        #expect(canonical("+14151550100") == nil)                      // NXX starts with 1
        #expect(canonical("+14150550100") == nil)                      // NXX starts with 0
        #expect(canonical("+14154110100") == nil)                      // N11 NXX
        #expect(canonical("+14152110100") == nil)                      // N11 NXX (211)
        #expect(canonical("+14152120100") != nil)                      // 212 is an exchange
        #expect(canonical("+1415555010") == nil)                       // 9 digits
        #expect(canonical("+141555501000") == nil)                     // 11 digits
        #expect(canonical("2025550100", "US") == "12025550100")        // not Egypt: a US national number first
        #expect(canonical("12025550100", "CA") == "12025550100")
    }

    @Test func aDozenCountriesLengths() {
        let valid: [(String, String)] = [
            ("+44 7911 123456", "447911123456"), ("+33 6 12 34 56 78", "33612345678"), ("+49 151 12345678", "4915112345678"),
            ("+41 44 668 18 00", "41446681800"), ("+91 98765 43210", "919876543210"), ("+61 4 1234 5678", "61412345678"),
            ("+81 90-1234-5678", "819012345678"), ("+55 11 91234-5678", "5511912345678"), ("+34 612 34 56 78", "34612345678"),
            ("+39 06 1234 5678", "390612345678"), ("+86 138 0013 8000", "8613800138000"), ("+7 912 345-67-89", "79123456789"),
            ("+353 85 123 4567", "353851234567"), ("+971 50 123 4567", "971501234567"),
        ]
        for (raw, expected) in valid { #expect(canonical(raw) == expected, "\(raw)") }
        let invalid = ["+44 7911 12", "+33 6 12 34 56 7", "+41 44 668 18 0", "+91 98765 4321", "+61 4 1234 567", "+7 912 345-67-8",
                       "+34 612 34 56 7", "+971 50 12", "+353 85"]
        for raw in invalid { #expect(canonical(raw) == nil, "\(raw)") }
        #expect(reason("+41 44 668 18 0") == "a +41 number must have 9 digits; this has 8 digits after +41")
    }

    @Test func trunkPrefixesAreDroppedForTheDefaultCountry() {
        #expect(canonical("07911 123456", "GB") == "447911123456")
        #expect(canonical("06 12 34 56 78", "FR") == "33612345678")
        #expect(canonical("0151 12345678", "DE") == "4915112345678")
        #expect(canonical("8 912 345-67-89", "RU") == "79123456789")
        // Italy keeps its 0.
        #expect(canonical("06 1234 5678", "IT") == "390612345678")
        // Written internationally without the +, with a default country: still that number.
        #expect(canonical("4915112345678", "DE") == "4915112345678")
        #expect(canonical("447911123456", "US") == "447911123456")
    }

    @Test func oddInputIsRefusedWithAReason() {
        #expect(reason("") == "must contain digits")
        #expect(reason("+") == "must contain digits")
        #expect(reason("0791112345")?.contains("starts with 0") == true)
        #expect(reason("+0123456789")?.contains("not 0") == true)
        #expect(reason("415-CALL-NOW") != nil)
        #expect(reason("+1 415 555 0100 ext 2") != nil)
        #expect(reason("4155550100", "ZZ") == "default_country ZZ is not an ISO 3166-1 alpha-2 code we know")
        #expect(reason("123", "US")?.contains("US") == true)
        #expect(reason("+2825550100") == "does not start with a country calling code")
        #expect(reason("++14155550100") != nil)
        #expect(reason("١٥٥٥٩٩٩٠٠٠١") != nil)  // Arabic-Indic digits
        #expect(reason("+1 415 555 0100 0000 0000 0000") != nil)
    }

    @Test func everyPlanIsConsistent() {
        var regions = Set<String>()
        for plan in NumberingPlan.all {
            #expect((1...3).contains(plan.callingCode.count) && plan.callingCode.first != "0", "\(plan.callingCode)")
            #expect(plan.lengths.lowerBound >= 4, "+\(plan.callingCode) \(plan.lengths)")
            for region in plan.regions {
                #expect(region.count == 2 && region == region.uppercased())
                #expect(regions.insert(region).inserted, "\(region) listed twice")
            }
        }
        // Calling codes are prefix-free: no code is the start of another.
        let codes = NumberingPlan.all.map(\.callingCode)
        for code in codes { #expect(!codes.contains { $0 != code && $0.hasPrefix(code) }, "\(code)") }
    }

    @Test(arguments: [
        ("15559990001", "15559990001"),
        ("+15559990001", "15559990001"),
        ("+1 (555) 999-0001", "15559990001"),
        (" +44 20 7946 0958 ", "442079460958"),
        ("49.30.1234567", "49301234567"),
        ("+353 1 234 5678", "35312345678"),
        ("+61 2 9876 5432", "61298765432"),
    ])
    func legitimateFormats(raw: String, expected: String) throws {
        #expect(canonical(raw) == expected)
    }

    /// Odd shapes, each refused with a reason (docs/reliability.md).
    @Test(arguments: ["", "+", "1234567", "12345678", "123456789012345", "1234567890123456", "015559990001", "1555abc0001",
                      "++15559990001", "1555999000１", "1555-999-0001 ext 2", "+1+5559990001", "1555\u{0}9990001", "١٥٥٥٩٩٩٠٠٠١",
                      "1555;9990001", "😀"])
    func oddShapes(raw: String) {
        #expect(canonical(raw) == nil, "\(raw)")
        #expect(reason(raw) != nil)
    }
}
