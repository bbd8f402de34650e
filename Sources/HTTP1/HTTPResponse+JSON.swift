import JSON

extension HTTPResponse {
    /// A JSON body with the right content type.
    public static func json(_ status: Int, _ body: JSONValue, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body.serialized())
    }

    /// The one error shape every endpoint uses: `{"error":{"code":…,"message":…}}`.
    public static func error(
        _ status: Int, code: String, message: String, details: JSONValue? = nil,
        headers: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        let error = JSONValue.object(["code": .string(code), "message": .string(message), "details": details])
        return json(status, .object([("error", error)]), headers: headers)
    }
}
