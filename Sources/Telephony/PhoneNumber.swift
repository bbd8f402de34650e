/// Phone numbers as customers write them, made canonical: E.164 digits without the `+`, the
/// country calling code first (`14155550100`). The one form stored, compared for Do-Not-Call
/// and duplicates, and sent to Plivo.
public enum PhoneNumber {
    public struct Invalid: Error, Sendable, Equatable {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// E.164 allows 15 digits in all, calling code included.
    static let maxDigits = 15

    /// The canonical form of `raw`.
    ///
    /// With a `+`, the digits are the calling code and the national number. Without one, a number
    /// written nationally in `defaultCountry` (its trunk prefix, or ten NANP digits) is read as
    /// such; otherwise the digits are canonical when they start with a calling code followed by a
    /// national number of a length that country allows; otherwise they are read as a national
    /// number of `defaultCountry`. Without a `defaultCountry` such a number is refused.
    public static func canonical(_ raw: String, defaultCountry: String? = nil) -> Result<String, Invalid> {
        let (digits, international): (String, Bool)
        switch scan(raw) {
        case .success(let scanned): (digits, international) = scanned
        case .failure(let invalid): return .failure(invalid)
        }
        guard !digits.isEmpty else { return .failure(Invalid("must contain digits")) }
        guard digits.count <= maxDigits + 2 else { return .failure(Invalid("has \(digits.count) digits; E.164 allows at most \(maxDigits)")) }
        if international { return internationalNumber(digits) }

        var home: NumberingPlan?
        if let defaultCountry {
            guard let plan = NumberingPlan.forRegion(defaultCountry) else {
                return .failure(Invalid("default_country \(defaultCountry) is not an ISO 3166-1 alpha-2 code we know"))
            }
            home = plan
            if let national = nationalNumber(digits, in: plan, requireTrunk: true) { return .success(national) }
            if plan.callingCode == "1", digits.count == 10, NANP.isValid(digits) { return .success("1" + digits) }
        }
        if case .success(let number) = internationalNumber(digits) { return .success(number) }
        guard let home else {
            if digits.first == "0" {
                return .failure(Invalid("starts with 0, so it is written nationally: write it with + and its country code, or set default_country"))
            }
            return .failure(Invalid("does not start with a country calling code followed by a number of the right length: "
                + "write it with + and its country code, or set default_country"))
        }
        if let national = nationalNumber(digits, in: home, requireTrunk: false) { return .success(national) }
        return .failure(Invalid("is not a valid number of \(defaultCountry!.uppercased()) (+\(home.callingCode)): "
            + home.lengthRule + (home.callingCode == "1" ? " and follow the NANP's NPA-NXX-XXXX rules" : "")))
    }

    /// The digits and whether a leading `+` made the number international. Spaces, dashes, dots
    /// and parentheses are separators; anything else is refused.
    static func scan(_ raw: String) -> Result<(String, Bool), Invalid> {
        // The common shapes, digits alone or after a `+`, as they are (an upload has a million).
        let utf8 = raw.utf8
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        if let first = utf8.first, first == UInt8(ascii: "+") || isDigit(first), utf8.dropFirst().allSatisfy(isDigit) {
            return .success(first == UInt8(ascii: "+") ? (String(raw.dropFirst()), true) : (raw, false))
        }
        var text = Substring(raw)
        while let first = text.first, first == " " { text = text.dropFirst() }
        while let last = text.last, last == " " { text = text.dropLast() }
        let international = text.first == "+"
        if international { text = text.dropFirst() }
        var digits = ""
        for character in text.unicodeScalars {
            switch character {
            case "0"..."9": digits.unicodeScalars.append(character)
            case " ", "-", ".", "(", ")": continue
            default: return .failure(Invalid("must be a phone number: digits with an optional leading +, and spaces, dashes, dots or parentheses"))
            }
        }
        return .success((digits, international))
    }

    /// `digits` read as calling code and national significant number.
    static func internationalNumber(_ digits: String) -> Result<String, Invalid> {
        guard let (plan, national) = split(digits) else {
            return .failure(Invalid(digits.first == "0" ? "must start with a country calling code (not 0)" : "does not start with a country calling code"))
        }
        guard isValid(national, in: plan) else {
            return .failure(Invalid("a +\(plan.callingCode) number " + plan.lengthRule
                + (plan.callingCode == "1" ? " and follow the NANP's NPA-NXX-XXXX rules" : "") + "; this has \(national.count) digits after +\(plan.callingCode)"))
        }
        return .success(digits)
    }

    /// The calling code at the start of `digits` (codes are prefix-free: at most one matches) and
    /// the rest.
    static func split(_ digits: String) -> (NumberingPlan, Substring)? {
        for length in 1...3 where digits.count > length {
            if let plan = NumberingPlan.forCallingCode(digits.prefix(length)) { return (plan, digits.dropFirst(length)) }
        }
        return nil
    }

    /// `digits` as a national number of `plan`, without its trunk prefix (which `requireTrunk`
    /// demands), in canonical form.
    static func nationalNumber(_ digits: String, in plan: NumberingPlan, requireTrunk: Bool) -> String? {
        var national = Substring(digits)
        if let trunk = plan.trunkPrefix, national.hasPrefix(trunk) {
            national = national.dropFirst(trunk.count)
        } else if requireTrunk {
            return nil
        }
        return isValid(national, in: plan) ? plan.callingCode + national : nil
    }

    static func isValid(_ national: some StringProtocol, in plan: NumberingPlan) -> Bool {
        guard plan.lengths.contains(national.count), plan.callingCode.count + national.count <= maxDigits else { return false }
        return plan.callingCode != "1" || NANP.isValid(national)
    }
}

/// The North American Numbering Plan's rules for a ten-digit number NPA-NXX-XXXX: the area code
/// (NPA) starts with 2–9, has no 9 in the middle (kept for expansion) and is not N11 (service
/// codes); the exchange (NXX) starts with 2–9 and is not N11.
enum NANP {
    static func isValid(_ number: some StringProtocol) -> Bool {
        let digits = Array(number.utf8).map { Int($0) - 48 }
        guard digits.count == 10 else { return false }
        let npaOK = digits[0] >= 2 && digits[1] != 9 && !(digits[1] == 1 && digits[2] == 1)
        let nxxOK = digits[3] >= 2 && !(digits[4] == 1 && digits[5] == 1)
        return npaOK && nxxOK
    }
}

extension NumberingPlan {
    /// "has 9 digits" or "has 7 to 10 digits", for refusals.
    var lengthRule: String {
        lengths.count == 1 ? "must have \(lengths.lowerBound) digits" : "must have \(lengths.lowerBound) to \(lengths.upperBound) digits"
    }
}
