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
            (.start(startsLater: false, ended: false), .draft, .success(.running)),
            (.start(startsLater: false, ended: false), .running, .failure(.wrongStatus(required: .draft, verb: "started", actual: .running))),
            (.start(startsLater: false, ended: false), .paused, .failure(.wrongStatus(required: .draft, verb: "started", actual: .paused))),
            (.start(startsLater: false, ended: false), .completed, .failure(.wrongStatus(required: .draft, verb: "started", actual: .completed))),
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

    /// A start before `start_at` schedules the campaign; one after `end_at` is refused.
    @Test func aStartSchedulesOrIsRefusedByItsTimes() {
        #expect(Self.outcome(.start(startsLater: true, ended: false), Self.campaign(.draft)) == .success(.scheduled))
        #expect(Self.outcome(.start(startsLater: false, ended: true), Self.campaign(.draft)) == .failure(.endPassed))
        #expect(Self.outcome(.pause, Self.campaign(.scheduled)) == .failure(.wrongStatus(required: .running, verb: "paused", actual: .scheduled)))
        #expect(Self.outcome(.uploadContacts, Self.campaign(.scheduled)) == .success(nil))
    }

    /// Cancel from scheduled, running or paused only; canceled is final: nothing starts, resumes or pauses it.
    @Test func cancelIsFinal() {
        for status in CampaignStatus.allCases {
            let cancelable = status == .scheduled || status == .running || status == .paused
            #expect(Self.outcome(.cancel, Self.campaign(status)) == (cancelable ? .success(.canceled) : .failure(.notCancelable(status))), "\(status)")
        }
        #expect(Self.outcome(.start(startsLater: false, ended: false), Self.campaign(.canceled)) == .failure(.wrongStatus(required: .draft, verb: "started", actual: .canceled)))
        #expect(Self.outcome(.resume, Self.campaign(.canceled)) == .failure(.wrongStatus(required: .paused, verb: "resumed", actual: .canceled)))
        #expect(Self.outcome(.pause, Self.campaign(.canceled)) == .failure(.wrongStatus(required: .running, verb: "paused", actual: .canceled)))
        #expect(Refusal.notCancelable(.draft).description == "only a scheduled, running or paused campaign can be canceled; this one is draft")
    }

    @Test func dialingNeedsACallerID() {
        #expect(Self.outcome(.start(startsLater: false, ended: false), Self.campaign(.draft, callerID: false)) == .failure(.noCallerID))
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
