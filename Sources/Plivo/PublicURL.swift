import Foundation
import Runtime

/// `RYMI_PUBLIC_URL`: the base URL Plivo calls back on. The dialer puts it in every call request
/// and the gateway verifies each callback's signature over it, so both must arrive at the same
/// value: both read it here, with the same default.
public enum PublicURL {
    /// The validated base URL (no trailing slash), or, unset, `http://` + `RYMI_HTTP_ADDR`
    /// (default `127.0.0.1:8080`, the gateway's own default) with a wildcard host (`0.0.0.0`, `::`)
    /// read as loopback, since Plivo can never call a wildcard. Nil when unset and the port is 0:
    /// only the gateway can know the port it picked (its bound address is then used).
    public static func resolve(_ environment: Environment) throws(ConfigurationError) -> String? {
        if var url = try environment.string("RYMI_PUBLIC_URL") {
            guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil, parsed.query == nil else {
                throw ConfigurationError("RYMI_PUBLIC_URL", "'\(url)' is not an http(s) base URL")
            }
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }
        let address = try environment.address("RYMI_HTTP_ADDR", default: "127.0.0.1:8080")
        return address.port == 0 ? nil : defaultURL(for: address)
    }

    /// `http://host:port` for a listening address, wildcards read as loopback.
    public static func defaultURL(for address: HostPort) -> String {
        switch address.host {
        case "0.0.0.0", "": return "http://127.0.0.1:\(address.port)"
        case "::", "[::]": return "http://[::1]:\(address.port)"
        default: return "http://\(address)"
        }
    }
}
