import Dialing
import Protocol
import Testing

/// The campaign rules as a table: every command in every status.
struct CampaignLifecycleTests {
    typealias Refusal = CampaignLifecycle.Refusal

    static func campaign(_ status: CampaignStatus, callerID: Bool = true) -> CampaignLifecycle.Campaign {
        CampaignLifecycle.Campaign(status: status, hasCallerID: callerID)
    }

    static func outcome(_ command: CampaignLifecycle.Command, _ campaign: CampaignLifecycle.Campaign) -> Result<CampaignStatus?, Refusal> {
        Result { () throws(Refusal) -> CampaignStatus? in try CampaignLifecycle.check(command, on: campaign) }
    }

    @Test func startPauseAndResumeMoveOnlyFromTheirStatus() {
        let table: [(CampaignLifecycle.Command, CampaignStatus, Result<CampaignStatus?, Refusal>)] = [
            (.start, .draft, .success(.running)),
            (.start, .running, .failure(.wrongStatus(required: .draft, verb: "started", actual: .running))),
            (.start, .paused, .failure(.wrongStatus(required: .draft, verb: "started", actual: .paused))),
            (.start, .completed, .failure(.wrongStatus(required: .draft, verb: "started", actual: .completed))),
            (.pause, .running, .success(.paused)),
            (.pause, .draft, .failure(.wrongStatus(required: .running, verb: "paused", actual: .draft))),
            (.pause, .paused, .failure(.wrongStatus(required: .running, verb: "paused", actual: .paused))),
            (.pause, .completed, .failure(.wrongStatus(required: .running, verb: "paused", actual: .completed))),
            (.resume, .paused, .success(.running)),
            (.resume, .draft, .failure(.wrongStatus(required: .paused, verb: "resumed", actual: .draft))),
            (.resume, .running, .failure(.wrongStatus(required: .paused, verb: "resumed", actual: .running))),
            (.resume, .completed, .failure(.wrongStatus(required: .paused, verb: "resumed", actual: .completed))),
        ]
        for (command, status, expected) in table {
            #expect(Self.outcome(command, Self.campaign(status)) == expected, "\(command) on \(status)")
        }
    }

    /// Cancel from running or paused only; canceled is final: nothing starts, resumes or pauses it.
    @Test func cancelIsFinal() {
        for status in CampaignStatus.allCases {
            let cancelable = status == .running || status == .paused
            #expect(Self.outcome(.cancel, Self.campaign(status)) == (cancelable ? .success(.canceled) : .failure(.notCancelable(status))), "\(status)")
        }
        #expect(Self.outcome(.start, Self.campaign(.canceled)) == .failure(.wrongStatus(required: .draft, verb: "started", actual: .canceled)))
        #expect(Self.outcome(.resume, Self.campaign(.canceled)) == .failure(.wrongStatus(required: .paused, verb: "resumed", actual: .canceled)))
        #expect(Self.outcome(.pause, Self.campaign(.canceled)) == .failure(.wrongStatus(required: .running, verb: "paused", actual: .canceled)))
        #expect(Refusal.notCancelable(.draft).description == "only a running or paused campaign can be canceled; this one is draft")
    }

    @Test func dialingNeedsACallerID() {
        #expect(Self.outcome(.start, Self.campaign(.draft, callerID: false)) == .failure(.noCallerID))
        #expect(Self.outcome(.resume, Self.campaign(.paused, callerID: false)) == .failure(.noCallerID))
        #expect(Self.outcome(.pause, Self.campaign(.running, callerID: false)) == .success(.paused))
    }

    @Test func updatesDeletesAndUploadsFollowTheStatus() {
        for status in CampaignStatus.allCases {
            let running = status == .running
            #expect(Self.outcome(.update(changesDialing: true), Self.campaign(status)) == (running ? .failure(.dialingFieldsLockedWhileRunning) : .success(nil)))
            #expect(Self.outcome(.update(changesDialing: false), Self.campaign(status)) == .success(nil), "a name can always change")
            #expect(Self.outcome(.delete(callsInProgress: 0), Self.campaign(status)) == (running ? .failure(.runningCannotBeDeleted) : .success(nil)))
            #expect(Self.outcome(.uploadContacts, Self.campaign(status)) == (status.isFinal ? .failure(.finalTakesNoContacts(status)) : .success(nil)))
        }
        // A paused campaign with calls still live cannot be deleted: their slots would leak.
        #expect(Self.outcome(.delete(callsInProgress: 2), Self.campaign(.paused)) == .failure(.callsInProgress(2)))
        #expect(Self.outcome(.delete(callsInProgress: 2), Self.campaign(.running)) == .failure(.runningCannotBeDeleted))
    }

    @Test func refusalsSayWhatToDo() {
        #expect(Refusal.wrongStatus(required: .draft, verb: "started", actual: .running).description
            == "only a draft campaign can be started; this one is running")
        #expect(Refusal.callsInProgress(3).description.hasPrefix("3 calls of this campaign are still in progress"))
    }
}
