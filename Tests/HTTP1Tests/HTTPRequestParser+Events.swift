@testable import HTTP1

extension HTTPRequestParser {
    /// The events until the parser needs more bytes.
    mutating func eventsUntilMore() throws(HTTPParseError) -> [Event] {
        var events: [Event] = []
        while true {
            let event = try next()
            if case .needMore = event { return events }
            events.append(event)
        }
    }
}
