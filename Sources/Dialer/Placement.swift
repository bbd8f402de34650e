import Plivo
import Protocol

/// One offered call, from asking to begin to the outcome to report: the dialer's rules (its
/// Do-Not-Call copy, the lease, the go-ahead's slot and renewals), with the manager, Plivo and
/// the clock as parameters so they can be replaced in tests.
enum Placement {
    struct Edges: Sendable {
        /// Asks the manager to begin (or renew); throws when the answer is unknown.
        let begin: @Sendable (BeginCall) async throws -> BeginCallReply
        /// Sends the call request to Plivo, if it can leave by the deadline.
        let send: @Sendable (ContinuousClock.Instant?) async -> PlivoCallResult
        let now: @Sendable () -> ContinuousClock.Instant
    }

    struct Result: Sendable, Equatable {
        /// What to report; nil when the manager settled the placement itself (or refused it).
        var outcome: PlacementOutcome?
        /// Go-aheads that came, or requests that could not leave, too late for their slot.
        var slotsMissed = 0
    }

    /// - Parameters:
    ///   - received: when the offer arrived; nothing is sent once its lease has run out.
    ///   - listed: whether the dialer's own copy of the Do-Not-Call list has the number.
    static func run(_ offer: PlaceCall, received: ContinuousClock.Instant, listed: Bool, edges: Edges) async -> Result {
        let lease = Duration.milliseconds(offer.leaseMilliseconds)
        var request = BeginCall(attempt: offer.attempt)
        var result = Result()
        while true {
            let asked = edges.now()
            let begin: BeginCallReply
            do {
                begin = try await edges.begin(request)
            } catch {
                // We do not know whether the manager recorded the go-ahead; we surely did not
                // call, and saying so is harmless if it did not.
                result.outcome = .notPlaced(reason: "begin unconfirmed: \(error)", retryAfterMilliseconds: 0)
                return result
            }
            guard begin.go else {
                // A refused renewal leaves a placement begun and surely not sent: say so.
                if request.renew == true {
                    result.outcome = .notPlaced(reason: "go-ahead not renewed: \(begin.reason ?? "")", retryAfterMilliseconds: 0)
                }
                return result
            }
            if listed {
                result.outcome = .skippedDNC
                return result
            }
            // A dialer that stalled past its lease must not call: the manager may have moved on.
            guard edges.now() - received < lease else {
                result.outcome = .notPlaced(reason: "lease expired before sending", retryAfterMilliseconds: 0)
                return result
            }
            // A link whose round trip alone exceeds the bound (a dialer far from its manager)
            // would miss every slot: after a few renewals the request goes without one, as
            // every request did before go-aheads carried their slot.
            let deadline = result.slotsMissed < BeginCall.maxRenewals ? begin.sendDeadline(askedAt: asked) : nil
            switch await edges.send(deadline) {
            case .missedSlot:
                result.slotsMissed += 1
                request.renew = true
                continue
            case .accepted(let uuid): result.outcome = .accepted(requestUUID: uuid ?? "")
            case .queued(let uuid): result.outcome = .queued(requestUUID: uuid)
            case .refused(let status, let message): result.outcome = .refused(httpStatus: status, message: message)
            case .unauthorized(let status, let message): result.outcome = .authRejected(httpStatus: status, message: message)
            case .retryLater(let reason, let after): result.outcome = .notPlaced(reason: reason, retryAfterMilliseconds: after)
            case .uncertain(let reason): result.outcome = .uncertain(reason: reason)
            }
            return result
        }
    }
}
