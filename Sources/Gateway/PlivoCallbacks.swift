import HTTP1
import JSON
import Plivo
import Protocol
import RPC
import Runtime

/// Plivo's answer, ring, hangup and voicemail-detection callbacks (`/callbacks/plivo/…`, no
/// Bearer key).
///
/// A callback is believed only if its V3 signature verifies against the auth token over the URL
/// Plivo called (which carries the contact and attempt), the nonce and the POST parameters: a
/// signature for one call cannot be replayed for another, nor its CallStatus changed. Legacy V2
/// signatures are refused even when valid: V2 covers only the URL without its query, and the
/// nonce, so one observed V2 pair would let anyone post any outcome for any contact. A replay of
/// an identical genuine callback is harmless: the manager ignores duplicate and late events.
/// Ring and hangup are answered 2xx only once the manager has recorded
/// them (else 503, so Plivo retries); the answer callback is rendered from the signed URL alone,
/// so a call connects to its agent even while the manager restarts.
struct PlivoCallbacks: Sendable {
    let manager: RPCClient
    let authToken: String?
    let publicURL: String
    let agentStreamURL: String?
    let signatureFailures: Counter
    let logger: Logger

    func register(in router: inout Router) {
        for event in ["ring", "answer", "hangup", "machine"] {
            router.add("POST", "/callbacks/plivo/\(event)", handle)
            router.add("GET", "/callbacks/plivo/\(event)", handle)
        }
    }

    @Sendable func handle(_ context: RequestContext) async throws -> HTTPResponse {
        let request = context.request
        let parameters = try verifiedParameters(request)
        let query = context.query
        guard let kind = CallEventKind(rawValue: String(request.path.split(separator: "/").last ?? "")),
              let contact = query["contact"], let attempt = query["attempt"].flatMap(Int64.init)
        else {
            // Signed by Plivo but not a call of ours: acknowledge so Plivo stops retrying.
            logger.warning("callback_unknown_call", ["path": String(request.path)])
            return Self.acknowledgement
        }
        let fields = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        let event = CallEvent(
            kind: kind, contactID: contact, attempt: attempt, callUUID: fields["CallUUID"], requestUUID: fields["RequestUUID"],
            callStatus: fields["CallStatus"], hangupCause: fields["HangupCauseName"] ?? fields["HangupCause"],
            hangupCauseCode: fields["HangupCauseCode"].flatMap(Int.init), durationSeconds: fields["Duration"].flatMap(Int.init),
            billDurationSeconds: fields["BillDuration"].flatMap(Int.init), machine: fields["Machine"].map { $0.lowercased() == "true" }
        )
        if kind == .answer {
            let manager = self.manager
            Task { _ = try? await manager.call(RecordCallEvent(event: event), requestID: context.requestID) }
            return answerXML(campaign: query["campaign"] ?? "", agent: query["agent"] ?? "", contact: contact)
        }
        do {
            _ = try await manager.call(RecordCallEvent(event: event), requestID: context.requestID)
        } catch let error as RemoteError {
            throw APIError(remote: error)
        }
        return Self.acknowledgement
    }

    static let acknowledgement = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("OK".utf8))

    /// The callback's parameters, if its signature proves it came from Plivo; 403 otherwise.
    func verifiedParameters(_ request: HTTPRequest) throws(APIError) -> [(String, String)] {
        guard let token = authToken else {
            throw APIError(403, "invalid_signature", "callbacks are refused: PLIVO_AUTH_TOKEN is not configured on the gateway")
        }
        let url = publicURL + request.target
        let parameters: [(String, String)]
        if request.method == "GET" {
            parameters = []
        } else if request.body.isEmpty {
            parameters = []
        } else {
            guard let text = String(validating: request.body, as: UTF8.self), let pairs = FormEncoding.decodePairs(text[...]) else {
                throw APIError(400, "bad_request", "callback body is not form-encoded")
            }
            parameters = pairs.map { ($0.key, $0.value) }
        }
        // V3 only: a V2 signature (X-Plivo-Signature-V2) does not cover our query or the body.
        let verified: Bool
        if let signature = request.header("X-Plivo-Signature-V3"), let nonce = request.header("X-Plivo-Signature-V3-Nonce") {
            verified = PlivoSignature.verifyV3(header: signature, url: url, method: request.method, parameters: parameters, nonce: nonce, authToken: token)
        } else {
            verified = false
        }
        guard verified else {
            signatureFailures.increment()
            logger.warning("callback_signature_rejected", ["path": String(request.path)])
            throw APIError(403, "invalid_signature", "the callback's Plivo signature does not verify")
        }
        if request.method == "GET" {
            // GET callbacks carry their parameters in the query, next to ours.
            return FormEncoding.decodePairs(request.query ?? "")?.map { ($0.key, $0.value) } ?? []
        }
        return parameters
    }

    /// Plivo XML connecting the callee to the campaign's agent.
    func answerXML(campaign: String, agent: String, contact: String) -> HTTPResponse {
        let body: String
        if let stream = agentStreamURL {
            let headers = "agent_id=\(agent),campaign_id=\(campaign),contact_id=\(contact)"
            body = """
                <?xml version="1.0" encoding="UTF-8"?>
                <Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" \
                extraHeaders="\(Self.escape(headers))">\(Self.escape(stream))</Stream></Response>
                """
        } else {
            body = """
                <?xml version="1.0" encoding="UTF-8"?>
                <Response><Speak>Hello! This is an automated call from Rymi on behalf of agent \(Self.escape(agent)).</Speak></Response>
                """
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/xml")], body: Array(body.utf8))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
