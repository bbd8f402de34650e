import Protocol
import RPC
import Runtime

/// What the manager does for the dialing side's requests: each a named use case over the store
/// (what is durable) and the dispatcher (what is in flight), so the router only maps messages.
struct DialingUseCases: Sendable {
    let store: Store
    let dispatcher: Dispatcher
    let logger: Logger

    private func guarded<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await ManagerService.guarded(logger, body)
    }

    func start(_ request: StartCampaign, requestID: String?) async throws -> StartResult {
        let started = try await guarded { try await store.startCampaign(request) }
        await dispatcher.sync(started.seq, requestID: requestID)
        await dispatcher.deadlinesChanged(started.seq)
        logger.info(started.scheduled ? "campaign_scheduled" : "campaign_started", ["request_id": requestID ?? "", "campaign": request.campaignID,
                                         "queued": "\(started.result.queued)", "skipped_dnc": "\(started.result.skippedDNC)"])
        return started.result
    }

    /// Answers once no call of the campaign can still reach Plivo, and those Plivo held queued
    /// are canceled (their contacts pending again).
    func pause(_ request: PauseCampaign) async throws -> Empty {
        let seq = try await guarded { try await store.pauseCampaign(request) }
        await dispatcher.sync(seq)
        await dispatcher.waitForBegunPlacements { $0.campaign == seq }
        await dispatcher.stopQueuedCalls(waitingAtMost: Self.queuedCallsStopWait)
        return Empty()
    }

    /// Like a pause, and final: contacts not called yet are canceled, including those whose
    /// calls Plivo held queued; calls in progress finish and are recorded.
    func cancel(_ request: CancelCampaign, requestID: String?) async throws -> Empty {
        let seq = try await guarded { try await store.cancelCampaign(request) }
        await dispatcher.sync(seq)
        await dispatcher.waitForBegunPlacements { $0.campaign == seq }
        await dispatcher.stopQueuedCalls(waitingAtMost: Self.queuedCallsStopWait)
        logger.info("campaign_canceled", ["request_id": requestID ?? "", "campaign": request.campaignID])
        return Empty()
    }

    /// How long a pause or a Do-Not-Call addition waits for Plivo to confirm the cancels of the
    /// calls it holds queued; the cancels go on after the answer if Plivo is slower.
    static let queuedCallsStopWait = Duration.seconds(10)

    func resume(_ request: ResumeCampaign, requestID: String?) async throws -> Empty {
        let seq = try await guarded { try await store.resumeCampaign(request) }
        await dispatcher.sync(seq, requestID: requestID)
        logger.info("campaign_resumed", ["request_id": requestID ?? "", "campaign": request.campaignID])
        return Empty()
    }

    /// Answers once no placement begun earlier can still reach Plivo for these numbers: every
    /// dialer is told, placements waiting for their go-ahead are withdrawn, and those already
    /// sent are waited for.
    func addDNC(_ request: AddDNC, requestID: String?) async throws -> DNCAddResult {
        let (result, added) = try await guarded { try await store.addDNC(request) }
        await listed(Set(request.numbers), added: added, account: request.account, requestID: requestID)
        return result
    }

    /// The callee asked not to be called again: listed like a DNC addition, from the contact.
    func optOut(_ request: OptOutContact, requestID: String?) async throws -> OptOutResult {
        let result = try await guarded { try await store.optOut(request) }
        let number = result.entry.phoneNumber
        await listed([number], added: result.alreadyListed ? [] : [number], account: request.account, requestID: requestID)
        return result
    }

    /// Numbers just listed for an account: every dialer is told, placements waiting for their
    /// go-ahead are withdrawn, those already sent are waited for, and those Plivo holds queued
    /// are canceled (their contacts skipped).
    private func listed(_ numbers: Set<String>, added: [String], account: String, requestID: String?) async {
        if !added.isEmpty { await tellDialers(DNCUpdate(account: account, added: added, removed: []), requestID: requestID) }
        await dispatcher.listed(account: account, numbers: numbers)
        await dispatcher.waitForBegunPlacements { $0.account == account && numbers.contains($0.number) }
        await dispatcher.stopQueuedCalls(waitingAtMost: Self.queuedCallsStopWait)
    }

    func removeDNC(_ request: RemoveDNC, requestID: String?) async throws -> Empty {
        try await guarded { try await store.removeDNC(request) }
        await tellDialers(DNCUpdate(account: request.account, added: [], removed: [request.number]), requestID: requestID)
        return Empty()
    }

    /// Every connected dialer holds the list and checks it too; each is told without waiting.
    private func tellDialers(_ update: DNCUpdate, requestID: String?) async {
        for dialer in await dispatcher.connectedDialers { Task { try? await dialer.tell(update, requestID: requestID) } }
    }

    /// A dialer joins: it gets offers from now on, and the whole Do-Not-Call list to check them by.
    func register(_ request: RegisterDialer, peer: RPCPeer) async throws -> DialerRegistration {
        guard (1...RegisterDialer.maxSlots).contains(request.slots) else {
            throw RemoteError(.invalid, "slots must be 1...\(RegisterDialer.maxSlots)")
        }
        await dispatcher.register(peer, name: request.name, slots: request.slots)
        peer.onClose { Task { await dispatcher.unregister(peer) } }
        return DialerRegistration(dnc: try await guarded { try await store.dncSnapshot() })
    }
}
