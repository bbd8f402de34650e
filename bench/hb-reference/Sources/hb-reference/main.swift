import Foundation
import Hummingbird

let port = Int(ProcessInfo.processInfo.environment["HB_PORT"] ?? "8081") ?? 8081
let router = Router()
router.get("healthz") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
