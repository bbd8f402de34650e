/// Percent-encoding as used in URLs and `application/x-www-form-urlencoded` bodies.
public enum FormEncoding {
    /// RFC 3986 percent-decoding into UTF-8; nil for a malformed escape or invalid UTF-8.
    public static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String? {
        // Most parts need no decoding: then the text is the answer.
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || ($0 == UInt8(ascii: "+") && plusIsSpace) }) { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigit), let low = iterator.next().flatMap(hexDigit) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `a=1&b=2` into pairs, in order; nil when any part does not decode.
    public static func decodePairs(_ text: Substring) -> [(key: String, value: String)]? {
        var pairs: [(key: String, value: String)] = []
        // By UTF-8 index: `&` and `=` are ASCII, and Character-wise splitting was a tenth of the
        // gateway's work under callback load.
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let key = Substring(pair[pair.startIndex..<(equals ?? pair.endIndex)])
            let value = equals.map { Substring(pair[pair.index(after: $0)...]) } ?? ""
            guard let key = percentDecode(key, plusIsSpace: true), let value = percentDecode(value, plusIsSpace: true) else { return nil }
            pairs.append((key, value))
        }
        return pairs
    }

    /// Encodes pairs as a form body or query string (unreserved characters kept, space as %20).
    public static func encodePairs(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    public static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
