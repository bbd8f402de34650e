import Foundation

/// Which time zone a callee is in, and how we know.
public enum ZoneSource: String, Sendable {
    /// The contact's own `timezone`, given on upload.
    case contact
    /// A +1 number's area code, through the NANP table below.
    case areaCode = "area_code"
    /// The number's country, when it has a single zone.
    case country
    /// The campaign's `timezone`, for countries (or area codes) with several zones.
    case campaign
    /// A +1 number whose area code has no one zone, and no zone given: the hours when the window
    /// is open in every zone of the continental US.
    case continental
}

public enum TimeZones {
    public struct Unknown: Error, Sendable, Equatable {
        public let reason: String
    }

    /// The callee's zone: the contact's own, else the number's area code (+1) or country, else the
    /// campaign's; `Unknown` when none of them decides it.
    public static func zone(forNumber number: String, contactZone: String? = nil, campaignZone: String? = nil)
        -> Result<(zone: TimeZone, source: ZoneSource), Unknown> {
        if let contactZone {
            guard let zone = named(contactZone) else { return .failure(Unknown(reason: "timezone \(contactZone) is not an IANA zone")) }
            return .success((zone, .contact))
        }
        var why: String
        if number.hasPrefix("1"), number.count == 11 {
            let areaCode = String(number.dropFirst().prefix(3))
            if let name = nanpAreaCodes[areaCode], let zone = named(name) { return .success((zone, .areaCode)) }
            why = "area code \(areaCode) is not tied to one time zone"
        } else if let (plan, _) = PhoneNumber.split(number) {
            let zones = Set(plan.regions.flatMap { countryZones[$0] ?? [] })
            if zones.count == 1, let zone = named(zones.first!) { return .success((zone, .country)) }
            why = zones.isEmpty ? "+\(plan.callingCode) has no time zone in the tz database"
                : "+\(plan.callingCode) (\(plan.regions[0])) has \(zones.count) time zones"
        } else {
            why = "the number has no country"
        }
        if let campaignZone, let zone = named(campaignZone) { return .success((zone, .campaign)) }
        return .failure(Unknown(reason: why + "; set the campaign's timezone or the contact's"))
    }

    /// Whether `name` is an IANA zone the system knows.
    public static func isKnown(_ name: String) -> Bool { named(name) != nil }

    /// The zone of that name, read from the tz database once and kept (every go-ahead asks).
    public static func named(_ name: String) -> TimeZone? { cache.zone(name) }

    private static let cache = ZoneCache()

    /// ISO 3166 country → its zones, from the system's tz database (`zone.tab`).
    static let countryZones: [String: [String]] = {
        guard let text = try? String(contentsOfFile: "/usr/share/zoneinfo/zone.tab", encoding: .utf8) else { return [:] }
        var zones: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t")
            guard fields.count >= 3 else { continue }
            zones[String(fields[0]), default: []].append(String(fields[2]))
        }
        return zones
    }()

    /// NANP area code → IANA zone. Source: the NANPA's area code list by state and province
    /// (nationalnanpa.com, "NPA Database"), each placed in the zone of most of its territory; area
    /// codes split between zones (850, 867 and the like), non-geographic and toll-free ones are left
    /// out, so their callees take the campaign's zone.
    static let nanpAreaCodes: [String: String] = {
        var table: [String: String] = [:]
        func add(_ zone: String, _ codes: String) { for code in codes.split(separator: " ") { table[String(code)] = zone } }
        add("America/New_York", """
            203 475 860 959 302 202 771 239 305 321 352 386 407 448 561 656 689 727 754 772 786 813 863 904 941 954 \
            229 404 470 478 678 706 762 770 912 943 260 317 463 574 765 812 930 502 606 859 207 227 240 301 410 443 667 \
            339 351 413 508 617 774 781 857 978 231 248 269 313 517 586 616 679 734 810 906 947 989 603 \
            201 551 609 640 732 848 856 862 908 973 212 315 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 \
            252 336 472 704 743 828 910 919 980 984 216 220 234 283 326 330 380 419 436 440 513 567 614 740 937 \
            215 223 267 272 412 445 484 570 582 610 717 724 814 835 878 401 803 839 843 854 864 423 865 802 \
            276 434 540 571 686 703 757 804 826 948 304 681
            """)
        add("America/Toronto", "226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 807 905 263 354 367 418 438 450 468 514 579 581 819 873")
        add("America/Chicago", """
            205 251 256 334 659 938 327 479 501 870 217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 861 872 219 \
            319 515 563 641 712 316 620 785 913 270 364 225 318 337 504 985 218 320 507 612 651 763 952 228 601 662 769 \
            314 417 557 573 636 660 816 975 308 402 531 701 405 539 572 580 918 605 615 629 731 901 931 \
            210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972 979 \
            262 274 414 534 608 715 920
            """)
        add("America/Winnipeg", "204 431 584")
        add("America/Regina", "306 474 639")
        add("America/Denver", "303 719 720 970 983 406 505 575 385 435 801 307 915")
        add("America/Boise", "208 986")
        add("America/Phoenix", "480 520 602 623 928")
        add("America/Edmonton", "368 403 587 780 825")
        add("America/Los_Angeles", """
            702 725 775 458 503 541 971 206 253 360 425 509 564 \
            209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 747 760 805 \
            818 820 831 840 858 909 916 925 949 951
            """)
        add("America/Vancouver", "236 250 257 604 672 778")
        add("America/Anchorage", "907")
        add("Pacific/Honolulu", "808")
        add("America/Moncton", "428 506")
        add("America/Halifax", "782 902")
        add("America/St_Johns", "709")
        add("America/Puerto_Rico", "787 939")
        add("America/St_Thomas", "340")
        add("Pacific/Guam", "671")
        add("Pacific/Saipan", "670")
        add("Pacific/Pago_Pago", "684")
        add("America/Nassau", "242")
        add("America/Barbados", "246")
        add("America/Anguilla", "264")
        add("America/Antigua", "268")
        add("America/Tortola", "284")
        add("America/Cayman", "345")
        add("Atlantic/Bermuda", "441")
        add("America/Grenada", "473")
        add("America/Grand_Turk", "649")
        add("America/Jamaica", "658 876")
        add("America/Montserrat", "664")
        add("America/Lower_Princes", "721")
        add("America/St_Lucia", "758")
        add("America/Dominica", "767")
        add("America/St_Vincent", "784")
        add("America/Santo_Domingo", "809 829 849")
        add("America/Port_of_Spain", "868")
        add("America/St_Kitts", "869")
        return table
    }()
}

/// When one callee may be called: their zone (and how we know it) and the window that applies to
/// them, the campaign's, narrowed to the TCPA's hours for +1 numbers whatever the campaign says.
public struct CalleeSchedule: Sendable {
    public let zone: TimeZone
    public let source: ZoneSource
    public let window: CallingWindow

    public static func of(number: String, contactZone: String?, campaignZone: String?, campaignWindow: CallingWindow)
        -> Result<CalleeSchedule, TimeZones.Unknown> {
        let nanp = number.hasPrefix("1") && number.count == 11
        let window = nanp ? campaignWindow.intersection(.tcpa) : campaignWindow
        switch TimeZones.zone(forNumber: number, contactZone: contactZone, campaignZone: campaignZone) {
        case .success(let found):
            return .success(CalleeSchedule(zone: found.zone, source: found.source, window: window))
        case .failure where nanp:
            // An area code tied to no one zone (555, toll-free, split ones): called only while
            // the window is open from the Atlantic coast to the Pacific, i.e. from its start in
            // Los Angeles (three hours after New York's, both keeping DST) to its end in New York.
            let continental = CallingWindow(start: min(window.start + 180, window.end), end: window.end, days: window.days)
            return .success(CalleeSchedule(zone: TimeZones.named("America/New_York")!, source: .continental, window: continental))
        case .failure(let unknown):
            return .failure(unknown)
        }
    }

    /// Nil when a call may go now; else when the window next opens (`distantFuture` if never).
    public func waitsUntil(_ date: Date) -> Date? {
        guard let opening = window.nextOpening(atOrAfter: date, in: zone) else { return .distantFuture }
        return opening <= date ? nil : opening
    }
}

/// Zones and their Gregorian calendars by name, made once each.
final class ZoneCache: @unchecked Sendable {
    private let lock = NSLock()
    private var zones: [String: TimeZone?] = [:]
    private var calendars: [String: Calendar] = [:]

    func zone(_ name: String) -> TimeZone? {
        lock.lock()
        defer { lock.unlock() }
        if let known = zones[name] { return known }
        let zone = TimeZone(identifier: name)
        zones[name] = zone
        return zone
    }

    func calendar(_ zone: TimeZone) -> Calendar {
        lock.lock()
        defer { lock.unlock() }
        if let known = calendars[zone.identifier] { return known }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        calendars[zone.identifier] = calendar
        return calendar
    }

    static let shared = ZoneCache()
}
