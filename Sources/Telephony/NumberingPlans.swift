/// The world's country calling codes (ITU-T E.164) and, for each, the lengths its national
/// significant numbers may have and its national trunk prefix.
///
/// Sources: the codes are those of "List of ITU-T Recommendation E.164 assigned country codes"
/// (Annex to ITU Operational Bulletin No. 1114, 2016, with later assignments); the lengths are the
/// national possible lengths of each territory's numbers in Google's libphonenumber metadata
/// (`resources/PhoneNumberMetadata.xml`, `possibleLengths national`), rounded to the union of a
/// country's fixed and mobile ranges; trunk prefixes from the same metadata (`nationalPrefix`).
/// Non-geographic codes (satellite, global services) are left out: nobody's campaign calls them.
public struct NumberingPlan: Sendable, Equatable {
    /// The country calling code, digits only (`1`, `44`, `353`).
    public let callingCode: String
    /// ISO 3166-1 alpha-2 regions that share the code (the first is the main one).
    public let regions: [String]
    /// Allowed lengths of the national significant number (without the calling code and without
    /// the trunk prefix).
    public let lengths: ClosedRange<Int>
    /// What is dialled in front of a national number inside the country (`0` in most, `1` in the
    /// NANP, `8` in Russia); nil where there is none (Italy keeps its leading 0 internationally).
    public let trunkPrefix: String?

    init(_ callingCode: String, _ regions: [String], _ lengths: ClosedRange<Int>, trunk: String? = "0") {
        self.callingCode = callingCode
        self.regions = regions
        self.lengths = lengths
        self.trunkPrefix = trunk
    }

    init(_ callingCode: String, _ regions: [String], _ length: Int, trunk: String? = "0") {
        self.init(callingCode, regions, length...length, trunk: trunk)
    }
}

extension NumberingPlan {
    /// The plan for a calling code, if it is one.
    public static func forCallingCode(_ code: some StringProtocol) -> NumberingPlan? { byCode[String(code)] }

    /// The plan of an ISO 3166-1 alpha-2 region (any case), if we know it.
    public static func forRegion(_ region: String) -> NumberingPlan? { byRegion[region.uppercased()] }

    private static let byCode: [String: NumberingPlan] = Dictionary(uniqueKeysWithValues: all.map { ($0.callingCode, $0) })
    private static let byRegion: [String: NumberingPlan] = Dictionary(
        all.flatMap { plan in plan.regions.map { ($0, plan) } }, uniquingKeysWith: { first, _ in first })

    static let nanpRegions = ["US", "CA", "AG", "AI", "AS", "BB", "BM", "BS", "DM", "DO", "GD", "GU", "JM", "KN", "KY", "LC", "MP", "MS",
                              "PR", "SX", "TC", "TT", "VC", "VG", "VI"]

    /// Every plan, by zone.
    public static let all: [NumberingPlan] = [
        // Zone 1: the North American Numbering Plan.
        NumberingPlan("1", nanpRegions, 10, trunk: "1"),
        // Zone 2: Africa and some Atlantic islands.
        NumberingPlan("20", ["EG"], 8...10), NumberingPlan("211", ["SS"], 9), NumberingPlan("212", ["MA", "EH"], 9),
        NumberingPlan("213", ["DZ"], 8...9), NumberingPlan("216", ["TN"], 8, trunk: nil), NumberingPlan("218", ["LY"], 8...9),
        NumberingPlan("220", ["GM"], 7, trunk: nil), NumberingPlan("221", ["SN"], 9, trunk: nil), NumberingPlan("222", ["MR"], 8, trunk: nil),
        NumberingPlan("223", ["ML"], 8, trunk: nil), NumberingPlan("224", ["GN"], 8...9, trunk: nil), NumberingPlan("225", ["CI"], 10, trunk: nil),
        NumberingPlan("226", ["BF"], 8, trunk: nil), NumberingPlan("227", ["NE"], 8, trunk: nil), NumberingPlan("228", ["TG"], 8, trunk: nil),
        NumberingPlan("229", ["BJ"], 8...10, trunk: nil), NumberingPlan("230", ["MU"], 7...8, trunk: nil), NumberingPlan("231", ["LR"], 7...9),
        NumberingPlan("232", ["SL"], 8), NumberingPlan("233", ["GH"], 9), NumberingPlan("234", ["NG"], 7...10),
        NumberingPlan("235", ["TD"], 8, trunk: nil), NumberingPlan("236", ["CF"], 8, trunk: nil), NumberingPlan("237", ["CM"], 8...9, trunk: nil),
        NumberingPlan("238", ["CV"], 7, trunk: nil), NumberingPlan("239", ["ST"], 7, trunk: nil), NumberingPlan("240", ["GQ"], 9, trunk: nil),
        NumberingPlan("241", ["GA"], 7...8), NumberingPlan("242", ["CG"], 9, trunk: nil), NumberingPlan("243", ["CD"], 7...9),
        NumberingPlan("244", ["AO"], 9, trunk: nil), NumberingPlan("245", ["GW"], 7...9, trunk: nil), NumberingPlan("246", ["IO"], 7, trunk: nil),
        NumberingPlan("247", ["AC"], 5...6, trunk: nil), NumberingPlan("248", ["SC"], 7, trunk: nil), NumberingPlan("249", ["SD"], 9),
        NumberingPlan("250", ["RW"], 8...9), NumberingPlan("251", ["ET"], 9), NumberingPlan("252", ["SO"], 7...9),
        NumberingPlan("253", ["DJ"], 8, trunk: nil), NumberingPlan("254", ["KE"], 7...10), NumberingPlan("255", ["TZ"], 9),
        NumberingPlan("256", ["UG"], 9), NumberingPlan("257", ["BI"], 8, trunk: nil), NumberingPlan("258", ["MZ"], 8...9, trunk: nil),
        NumberingPlan("260", ["ZM"], 9), NumberingPlan("261", ["MG"], 9), NumberingPlan("262", ["RE", "YT", "TF"], 9),
        NumberingPlan("263", ["ZW"], 5...10), NumberingPlan("264", ["NA"], 5...10), NumberingPlan("265", ["MW"], 7...9),
        NumberingPlan("266", ["LS"], 8, trunk: nil), NumberingPlan("267", ["BW"], 7...8, trunk: nil), NumberingPlan("268", ["SZ"], 8, trunk: nil),
        NumberingPlan("269", ["KM"], 7, trunk: nil), NumberingPlan("27", ["ZA"], 9), NumberingPlan("290", ["SH", "TA"], 4...5, trunk: nil),
        NumberingPlan("291", ["ER"], 7), NumberingPlan("297", ["AW"], 7, trunk: nil), NumberingPlan("298", ["FO"], 6, trunk: nil),
        NumberingPlan("299", ["GL"], 6, trunk: nil),
        // Zones 3 and 4: Europe.
        NumberingPlan("30", ["GR"], 10, trunk: nil), NumberingPlan("31", ["NL"], 9...11), NumberingPlan("32", ["BE"], 8...9),
        NumberingPlan("33", ["FR"], 9), NumberingPlan("34", ["ES"], 9, trunk: nil), NumberingPlan("350", ["GI"], 8, trunk: nil),
        NumberingPlan("351", ["PT"], 9, trunk: nil), NumberingPlan("352", ["LU"], 4...11, trunk: nil), NumberingPlan("353", ["IE"], 7...10),
        NumberingPlan("354", ["IS"], 7...9, trunk: nil), NumberingPlan("355", ["AL"], 6...9), NumberingPlan("356", ["MT"], 8, trunk: nil),
        NumberingPlan("357", ["CY"], 8, trunk: nil), NumberingPlan("358", ["FI", "AX"], 5...12), NumberingPlan("359", ["BG"], 6...9),
        NumberingPlan("36", ["HU"], 8...9, trunk: "06"), NumberingPlan("370", ["LT"], 8, trunk: "8"), NumberingPlan("371", ["LV"], 8, trunk: nil),
        NumberingPlan("372", ["EE"], 7...10, trunk: nil), NumberingPlan("373", ["MD"], 8), NumberingPlan("374", ["AM"], 8),
        NumberingPlan("375", ["BY"], 9...10, trunk: "8"), NumberingPlan("376", ["AD"], 6...9, trunk: nil), NumberingPlan("377", ["MC"], 8...9),
        NumberingPlan("378", ["SM"], 6...10, trunk: nil), NumberingPlan("380", ["UA"], 9), NumberingPlan("381", ["RS"], 6...12),
        NumberingPlan("382", ["ME"], 8), NumberingPlan("383", ["XK"], 8...9), NumberingPlan("385", ["HR"], 6...9),
        NumberingPlan("386", ["SI"], 8), NumberingPlan("387", ["BA"], 8...9), NumberingPlan("389", ["MK"], 8),
        NumberingPlan("39", ["IT", "VA"], 6...11, trunk: nil), NumberingPlan("40", ["RO"], 9), NumberingPlan("41", ["CH"], 9),
        NumberingPlan("420", ["CZ"], 9, trunk: nil), NumberingPlan("421", ["SK"], 9), NumberingPlan("423", ["LI"], 7...9, trunk: nil),
        NumberingPlan("43", ["AT"], 4...13), NumberingPlan("44", ["GB", "GG", "IM", "JE"], 7...10), NumberingPlan("45", ["DK"], 8, trunk: nil),
        NumberingPlan("46", ["SE"], 6...10), NumberingPlan("47", ["NO", "SJ"], 5...8, trunk: nil), NumberingPlan("48", ["PL"], 9, trunk: nil),
        NumberingPlan("49", ["DE"], 4...15),
        // Zone 5: Central and South America.
        NumberingPlan("500", ["FK"], 5, trunk: nil), NumberingPlan("501", ["BZ"], 7, trunk: nil), NumberingPlan("502", ["GT"], 8, trunk: nil),
        NumberingPlan("503", ["SV"], 8, trunk: nil), NumberingPlan("504", ["HN"], 8, trunk: nil), NumberingPlan("505", ["NI"], 8, trunk: nil),
        NumberingPlan("506", ["CR"], 8, trunk: nil), NumberingPlan("507", ["PA"], 7...8, trunk: nil), NumberingPlan("508", ["PM"], 6),
        NumberingPlan("509", ["HT"], 8, trunk: nil), NumberingPlan("51", ["PE"], 8...9), NumberingPlan("52", ["MX"], 10, trunk: nil),
        NumberingPlan("53", ["CU"], 6...8), NumberingPlan("54", ["AR"], 10...11), NumberingPlan("55", ["BR"], 10...11),
        NumberingPlan("56", ["CL"], 9, trunk: nil), NumberingPlan("57", ["CO"], 8...10), NumberingPlan("58", ["VE"], 10),
        NumberingPlan("590", ["GP", "BL", "MF"], 9), NumberingPlan("591", ["BO"], 8), NumberingPlan("592", ["GY"], 7, trunk: nil),
        NumberingPlan("593", ["EC"], 8...9), NumberingPlan("594", ["GF"], 9), NumberingPlan("595", ["PY"], 6...9),
        NumberingPlan("596", ["MQ"], 9), NumberingPlan("597", ["SR"], 6...7, trunk: nil), NumberingPlan("598", ["UY"], 8, trunk: nil),
        NumberingPlan("599", ["CW", "BQ"], 7...8, trunk: nil),
        // Zone 6: South-East Asia and Oceania.
        NumberingPlan("60", ["MY"], 8...10), NumberingPlan("61", ["AU", "CX", "CC"], 9), NumberingPlan("62", ["ID"], 7...12),
        NumberingPlan("63", ["PH"], 8...10), NumberingPlan("64", ["NZ"], 8...10), NumberingPlan("65", ["SG"], 8, trunk: nil),
        NumberingPlan("66", ["TH"], 8...9), NumberingPlan("670", ["TL"], 7...8, trunk: nil), NumberingPlan("672", ["NF"], 6, trunk: nil),
        NumberingPlan("673", ["BN"], 7, trunk: nil), NumberingPlan("674", ["NR"], 7, trunk: nil), NumberingPlan("675", ["PG"], 7...8, trunk: nil),
        NumberingPlan("676", ["TO"], 5...7, trunk: nil), NumberingPlan("677", ["SB"], 5...7, trunk: nil), NumberingPlan("678", ["VU"], 5...7, trunk: nil),
        NumberingPlan("679", ["FJ"], 7, trunk: nil), NumberingPlan("680", ["PW"], 7, trunk: nil), NumberingPlan("681", ["WF"], 6, trunk: nil),
        NumberingPlan("682", ["CK"], 5, trunk: nil), NumberingPlan("683", ["NU"], 4...7, trunk: nil), NumberingPlan("685", ["WS"], 5...7, trunk: nil),
        NumberingPlan("686", ["KI"], 5...8, trunk: nil), NumberingPlan("687", ["NC"], 6, trunk: nil), NumberingPlan("688", ["TV"], 5...7, trunk: nil),
        NumberingPlan("689", ["PF"], 8, trunk: nil), NumberingPlan("690", ["TK"], 4...7, trunk: nil), NumberingPlan("691", ["FM"], 7, trunk: nil),
        NumberingPlan("692", ["MH"], 7, trunk: nil),
        // Zone 7: Russia and Kazakhstan.
        NumberingPlan("7", ["RU", "KZ"], 10, trunk: "8"),
        // Zone 8: East Asia.
        NumberingPlan("81", ["JP"], 9...10), NumberingPlan("82", ["KR"], 8...10), NumberingPlan("84", ["VN"], 9...10),
        NumberingPlan("850", ["KP"], 8...10), NumberingPlan("852", ["HK"], 8, trunk: nil), NumberingPlan("853", ["MO"], 8, trunk: nil),
        NumberingPlan("855", ["KH"], 8...9), NumberingPlan("856", ["LA"], 8...10), NumberingPlan("86", ["CN"], 7...12),
        NumberingPlan("880", ["BD"], 6...10), NumberingPlan("886", ["TW"], 8...9),
        // Zone 9: West, Central and South Asia, the Middle East.
        NumberingPlan("90", ["TR"], 10), NumberingPlan("91", ["IN"], 10), NumberingPlan("92", ["PK"], 9...10),
        NumberingPlan("93", ["AF"], 9), NumberingPlan("94", ["LK"], 9), NumberingPlan("95", ["MM"], 6...10),
        NumberingPlan("960", ["MV"], 7, trunk: nil), NumberingPlan("961", ["LB"], 7...8), NumberingPlan("962", ["JO"], 8...9),
        NumberingPlan("963", ["SY"], 8...9), NumberingPlan("964", ["IQ"], 8...10), NumberingPlan("965", ["KW"], 8, trunk: nil),
        NumberingPlan("966", ["SA"], 8...9), NumberingPlan("967", ["YE"], 7...9), NumberingPlan("968", ["OM"], 8, trunk: nil),
        NumberingPlan("970", ["PS"], 8...9), NumberingPlan("971", ["AE"], 8...9), NumberingPlan("972", ["IL"], 8...9),
        NumberingPlan("973", ["BH"], 8, trunk: nil), NumberingPlan("974", ["QA"], 7...8, trunk: nil), NumberingPlan("975", ["BT"], 7...8, trunk: nil),
        NumberingPlan("976", ["MN"], 8), NumberingPlan("977", ["NP"], 8...10), NumberingPlan("98", ["IR"], 10),
        NumberingPlan("992", ["TJ"], 9, trunk: nil), NumberingPlan("993", ["TM"], 8, trunk: "8"), NumberingPlan("994", ["AZ"], 9),
        NumberingPlan("995", ["GE"], 9), NumberingPlan("996", ["KG"], 9), NumberingPlan("998", ["UZ"], 9, trunk: nil),
    ]
}
