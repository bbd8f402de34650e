import Crypto
import Foundation
import HTTP1

/// The dashboard: static HTML, CSS and JavaScript at `/` and `/app/`, which sign in with an API
/// key and use the public API like any client. Served from memory (the files are compiled in by
/// the EmbedDashboardPlugin), under a Content-Security-Policy that lets the page run only its own files.
enum Dashboard {
    struct Asset: Sendable {
        let contentType: String
        let etag: String
        let body: [UInt8]
    }

    static let contentTypes = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"]

    /// Each file, with its type and an ETag from its bytes.
    static let assets: [String: Asset] = files.reduce(into: [:]) { assets, file in
        let body = Array(file.value.utf8)
        let type = contentTypes[String(file.key.split(separator: ".").last ?? "")] ?? "application/octet-stream"
        assets[file.key] = Asset(contentType: type, etag: "\"" + Hex.encode(SHA256.hash(body).prefix(16)) + "\"", body: body)
    }

    /// The paths it answers, and the file each serves.
    static let routes: [Substring: String] = [
        "/": "index.html", "/app/": "index.html", "/app/index.html": "index.html",
        "/app/app.js": "app.js", "/app/app.css": "app.css",
    ]

    static let securityHeaders: [(name: String, value: String)] = [
        // Only the page's own files run or load; no inline script or style, no framing.
        ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        // Revalidated each time (cheap with the ETag): a new gateway's dashboard is seen at once.
        ("Cache-Control", "no-cache"),
    ]

    /// Whether the path is the dashboard's (for routing and metrics).
    static func serves(_ path: Substring) -> Bool { routes[path] != nil || path == "/app" }

    /// The dashboard's answer for `request`, or nil when the path is not the dashboard's.
    static func response(_ request: HTTPRequest) -> HTTPResponse? {
        let path = request.path
        guard serves(path) else { return nil }
        guard request.method == "GET" || request.method == "HEAD" else {
            return APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use GET, HEAD", headers: [("Allow", "GET, HEAD")]).response
        }
        guard let name = routes[path], let asset = assets[name] else {
            // `/app` → `/app/`, where the page's relative world begins.
            return HTTPResponse(status: 308, headers: [("Location", "/app/"), ("Content-Type", "text/plain; charset=utf-8")], body: Array("/app/\n".utf8))
        }
        var headers = securityHeaders + [("ETag", asset.etag)]
        if let known = request.header("If-None-Match"), known.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return HTTPResponse(status: 304, headers: headers, body: [])
        }
        headers.append(("Content-Type", asset.contentType))
        return HTTPResponse(status: 200, headers: headers, body: asset.body)
    }
}
