import Crypto
import Runtime

/// API keys and the accounts they belong to.
///
/// Only each key's SHA-256 digest is kept after start-up; a presented key is hashed and compared
/// with every digest in constant time, so neither the key nor timing reveals which one matched.
public struct APIKeys: Sendable {
    struct Entry: Sendable {
        let account: String
        let digest: [UInt8]
    }

    private let entries: [Entry]
    /// Accounts whose key is shorter than a guessable length; the gateway warns about them at start.
    public let weakKeyAccounts: [String]

    public init(parsing text: String) throws(ConfigurationError) {
        var entries: [Entry] = []
        var weak: [String] = []
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else {
                throw ConfigurationError("RYMI_API_KEYS", "entry \(entries.count + 1) is not account:key")
            }
            let account = parts[0].trimmingCharacters(in: " ")
            let key = parts[1].trimmingCharacters(in: " ")
            guard !account.isEmpty, !key.isEmpty else {
                throw ConfigurationError("RYMI_API_KEYS", "entry \(entries.count + 1): both the account and the key must be given")
            }
            if key.utf8.count < 16 { weak.append(account) }
            let digest = SHA256.hash(Array(key.utf8))
            guard !entries.contains(where: { $0.digest == digest }) else {
                throw ConfigurationError("RYMI_API_KEYS", "entry \(entries.count + 1) repeats a key")
            }
            entries.append(Entry(account: account, digest: digest))
        }
        guard !entries.isEmpty else { throw ConfigurationError("RYMI_API_KEYS", "no account:key pair given") }
        self.entries = entries
        weakKeyAccounts = weak
    }

    /// The account a presented key belongs to, or nil.
    func account(forKey key: String) -> String? {
        let digest = SHA256.hash(Array(key.utf8))
        var match: String?
        for entry in entries where constantTimeEquals(entry.digest, digest) {
            match = entry.account
        }
        return match
    }
}

extension Substring {
    /// Without `character` at either end; by UTF-8 index, since this runs on every request.
    func trimmingCharacters(in character: Unicode.Scalar) -> String {
        let byte = UInt8(ascii: character)
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { $0 != byte }), let last = bytes.lastIndex(where: { $0 != byte }) else { return "" }
        return String(self[first...last])
    }
}
