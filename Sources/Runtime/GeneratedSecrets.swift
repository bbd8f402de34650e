import Crypto
import Foundation

/// Secrets a deployment with nothing set up makes for itself (`docker compose up` as it is): when
/// `RYMI_SECRETS_DIR` names a directory its processes share (a volume), a secret none of them
/// was given is read from the file there named for its variable, or made by whichever process
/// needs it first. Given secrets (`NAME`, `NAME_FILE`) always win.
extension Environment {
    public static let secretsDirectoryVariable = "RYMI_SECRETS_DIR"

    public var secretsDirectory: String? {
        guard let directory = values[Self.secretsDirectoryVariable], !directory.isEmpty else { return nil }
        return directory
    }

    /// `NAME` (or `NAME_FILE`); else, with `RYMI_SECRETS_DIR`, the file there (the lowercased
    /// name), made with `make` if it is not there yet. `generated` says which.
    public func stringOrGenerated(_ name: String, make: () -> String) throws(ConfigurationError) -> (value: String, generated: Bool)? {
        if let given = try string(name) { return (given, false) }
        guard let directory = secretsDirectory else { return nil }
        return (try GeneratedSecrets.readOrCreate(directory: directory, file: name.lowercased(), make: make), true)
    }
}

public enum GeneratedSecrets {
    /// `bytes` random bytes in hex (32: a role secret's strength).
    public static func randomHex(bytes: Int = 32) -> String { RandomBytes.hex(bytes) }

    /// The value in `directory/file`, made first if it is not there. Made beside it and linked into
    /// place: `link` fails when another process got there first, and its value is then the one,
    /// so processes starting together agree.
    static func readOrCreate(directory: String, file: String, make: () -> String) throws(ConfigurationError) -> String {
        let path = (directory as NSString).appendingPathComponent(file)
        if let existing = try read(path) { return existing }
        let temporary = (directory as NSString).appendingPathComponent(".\(file).\(getpid()).\(UInt32.random(in: 0...UInt32.max))")
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure(directory, "cannot write in it") }
        let bytes = Array((make() + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        defer { unlink(temporary) }
        guard written == bytes.count, synced else { throw failure(directory, "cannot write in it") }
        if link(temporary, path) != 0, errno != EEXIST { throw failure(directory, "cannot write \(file) in it") }
        guard let value = try read(path) else { throw failure(directory, "\(file) is empty") }
        return value
    }

    private static func read(_ path: String) throws(ConfigurationError) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(Environment.secretsDirectoryVariable, "cannot read \(path) (this process runs as uid \(getuid()))")
        }
        let value = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    private static func failure(_ directory: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(Environment.secretsDirectoryVariable, "\(directory): \(problem): \(String(cString: strerror(errno)).lowercased()) (this process runs as uid \(getuid()), gid \(getgid()))")
    }
}
