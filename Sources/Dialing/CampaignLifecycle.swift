import Protocol

/// What may be done to a campaign in each status: the API's 409 rules, as checks that return
/// typed errors. The store asks before it writes; the manager turns a refusal into the wire's
/// `conflict` in one place.
public enum CampaignLifecycle {
    /// A request that changes a campaign, with what the rule needs to know about it.
    public enum Command: Sendable, Equatable {
        /// `startsLater`: its `start_at` is still to come; `ended`: its `end_at` has passed.
        case start(startsLater: Bool, ended: Bool)
        case pause
        case resume
        case cancel
        /// A PUT; `changesDialing` when it changes `agent_id` or `call_from_number`.
        case update(changesDialing: Bool)
        /// A DELETE, with the calls of the campaign still in progress.
        case delete(callsInProgress: Int)
        case uploadContacts
    }

    /// The campaign as the rules see it.
    public struct Campaign: Sendable, Equatable {
        public var status: CampaignStatus
        public var hasCallerID: Bool

        public init(status: CampaignStatus, hasCallerID: Bool) {
            self.status = status
            self.hasCallerID = hasCallerID
        }
    }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case wrongStatus(required: CampaignStatus, verb: String, actual: CampaignStatus)
        case noCallerID
        case dialingFieldsLockedWhileRunning
        case runningCannotBeDeleted
        case callsInProgress(Int)
        case finalTakesNoContacts(CampaignStatus)
        case notCancelable(CampaignStatus)
        case endPassed

        public var description: String {
            switch self {
            case let .wrongStatus(required, verb, actual): "only a \(required.rawValue) campaign can be \(verb); this one is \(actual.rawValue)"
            case .noCallerID: "the campaign has no call_from_number; set one with PUT first"
            case .dialingFieldsLockedWhileRunning: "agent_id and call_from_number cannot change while the campaign is running; pause it first"
            case .runningCannotBeDeleted: "a running campaign cannot be deleted; pause it first"
            case .callsInProgress(let calls): "\(calls) calls of this campaign are still in progress; delete it once they have ended"
            case .finalTakesNoContacts(let status): "the campaign is \(status.rawValue); contacts can no longer be added"
            case .notCancelable(let status): "only a scheduled, running or paused campaign can be canceled; this one is \(status.rawValue)"
            case .endPassed: "the campaign's end_at has passed; set a later one (or none) with PUT first"
            }
        }
    }

    /// The status `command` leaves the campaign in (nil: unchanged), or why it is refused.
    @discardableResult
    public static func check(_ command: Command, on campaign: Campaign) throws(Refusal) -> CampaignStatus? {
        switch command {
        case .start(let startsLater, let ended):
            try require(.draft, verb: "started", campaign)
            guard campaign.hasCallerID else { throw .noCallerID }
            guard !ended else { throw .endPassed }
            return startsLater ? .scheduled : .running
        case .pause:
            try require(.running, verb: "paused", campaign)
            return .paused
        case .resume:
            try require(.paused, verb: "resumed", campaign)
            guard campaign.hasCallerID else { throw .noCallerID }
            return .running
        case .update(let changesDialing):
            if campaign.status == .running, changesDialing { throw .dialingFieldsLockedWhileRunning }
            return nil
        case .delete(let callsInProgress):
            guard campaign.status != .running else { throw .runningCannotBeDeleted }
            guard callsInProgress == 0 else { throw .callsInProgress(callsInProgress) }
            return nil
        case .cancel:
            guard [.scheduled, .running, .paused].contains(campaign.status) else { throw .notCancelable(campaign.status) }
            return .canceled
        case .uploadContacts:
            guard !campaign.status.isFinal else { throw .finalTakesNoContacts(campaign.status) }
            return nil
        }
    }

    private static func require(_ status: CampaignStatus, verb: String, _ campaign: Campaign) throws(Refusal) {
        guard campaign.status == status else { throw .wrongStatus(required: status, verb: verb, actual: campaign.status) }
    }
}

extension CampaignStatus {
    /// Completed or canceled: nothing more happens to the campaign.
    public var isFinal: Bool { self == .completed || self == .canceled }
}
