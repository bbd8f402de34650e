import Foundation

/// A configuration problem found at start-up; the executable prints it as one line and exits.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let problem: String

    public init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "\(variable): \(problem)" }
}

/// A `host:port` address as written in configuration; `[v6]:port` for IPv6 literals.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty, let port = UInt16(portText), !portText.isEmpty, portText.allSatisfy(\.isASCII) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether only this host can reach it.
    public var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }
}

/// Reads typed settings from the environment, each with the default the README documents.
public struct Environment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The variable's value; or, when only `NAME_FILE` is set, that file's contents (how Docker
    /// secrets arrive), without the trailing newline.
    /// A file named but not readable is an error that says why (not "not set": the operator set it).
    public func string(_ name: String) throws(ConfigurationError) -> String? {
        if let value = values[name], !value.isEmpty { return value }
        guard let path = values[name + "_FILE"], !path.isEmpty else { return nil }
        let contents: String
        do {
            contents = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(name + "_FILE", "cannot read \(path): \(Self.reason(error)) (this process runs as uid \(getuid()), gid \(getgid()))")
        }
        let trimmed = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ConfigurationError(name + "_FILE", "\(path) is empty") }
        return trimmed
    }

    /// The system's words for a failed read (permission denied, no such file), not Foundation's.
    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code))).lowercased()
        }
        switch nsError.code {
        case NSFileReadNoPermissionError: return "permission denied"
        case NSFileReadNoSuchFileError: return "no such file"
        default: return nsError.localizedDescription
        }
    }

    public func address(_ name: String, default fallback: String) throws(ConfigurationError) -> HostPort {
        let text = try string(name) ?? fallback
        guard let address = HostPort(parsing: text) else {
            throw ConfigurationError(name, "'\(text)' is not host:port (for example 127.0.0.1:8080)")
        }
        return address
    }

    public func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = try string(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(name, "'\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func seconds(_ name: String, default fallback: Double, range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard let text = try string(name) else { return fallback }
        guard let value = Double(text), range.contains(value) else {
            throw ConfigurationError(name, "'\(text)' is not a number of seconds in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A secret shared by processes of one deployment: required (made and shared through
    /// `RYMI_SECRETS_DIR` when that is set).
    public func secret(_ name: String) throws(ConfigurationError) -> [UInt8] {
        guard let text = try stringOrGenerated(name, make: { GeneratedSecrets.randomHex() })?.value else {
            throw ConfigurationError(name, "not set; give the shared secret (or \(name)_FILE, a file holding it); make run generates one, e.g. openssl rand -hex 32")
        }
        return Array(text.utf8)
    }

    public func logLevel() throws(ConfigurationError) -> Logger.Level {
        guard let text = try string("RYMI_LOG_LEVEL") else { return .info }
        guard let level = Logger.Level(name: text) else {
            throw ConfigurationError("RYMI_LOG_LEVEL", "'\(text)' is not one of debug, info, warning, error")
        }
        return level
    }
}
