import JSON
import Protocol
import RPC
import Runtime

/// Serves `IdempotentCall`s: claims the key, runs the effect through the router as if it had come
/// alone, and answers with its reply; or answers with the record of the key's first request.
struct IdempotencyGate: Sendable {
    let store: Store
    /// The routes of the effects; the call's own route is not among them, so calls do not nest.
    let effects: RPCRouter
    let logger: Logger

    func serve(_ call: IdempotentCall, _ context: RPCContext) async throws -> IdempotentReply {
        guard IdempotentCall.effectTypes.contains(call.effectType) else {
            throw RemoteError(.invalid, "\(call.effectType) is not an effect an idempotency key guards")
        }
        guard (1...IdempotentCall.maxKeyBytes).contains(call.key.utf8.count), call.fingerprint.utf8.count == 64 else {
            throw RemoteError(.invalid, "an idempotency key is 1...\(IdempotentCall.maxKeyBytes) bytes, and a fingerprint a SHA-256 in hex")
        }
        let effect: JSONValue
        do {
            // Read as it would be in a line of its own (one level up): a contact's variables stay text.
            effect = try JSONParser.parse(call.effect.utf8, verbatimBelow: IncomingEnvelope.verbatimDepth - 1)
        } catch {
            throw RemoteError(.malformed, "\(call.effectType): \(error)")
        }
        // The record is the account's: the effect must act for the same one.
        guard effect["account"] == .string(call.account) else { throw RemoteError(.malformed, "the effect names another account") }
        let claim: Store.IdempotencyClaim
        let now = Timestamp.nowMilliseconds()
        do {
            claim = try await ManagerService.guarded(logger) { try await store.claimIdempotencyKey(call, now: now) }
        } catch {
            await dropUpload(of: call, effect)
            throw error
        }
        if case .replay(let reply) = claim {
            await dropUpload(of: call, effect)
            return IdempotentReply(replayed: true, reply: reply)
        }
        let scope = IdempotencyScope(call, claimedAt: now)
        do {
            let reply = try await IdempotencyScope.$current.withValue(scope) {
                try await effects.handle(type: call.effectType, body: effect, context: context)
            }
            if !scope.recorded {
                logger.error("idempotency_not_atomic", ["effect": call.effectType, "hint": "its write does not call recordIdempotentReply"])
                try await IdempotencyScope.$current.withValue(scope) { try await store.recordIdempotentReplyAlone(reply) }
            }
            await store.releaseIdempotencyKey(account: call.account, key: call.key)
            return IdempotentReply(replayed: false, reply: String(decoding: try JSONValueEncoder.encode(reply).serialized(), as: UTF8.self))
        } catch {
            await store.releaseIdempotencyKey(account: call.account, key: call.key)
            throw error
        }
    }

    /// A streamed upload whose finish will not run (replayed or refused) is dropped now, rather
    /// than holding the account's upload slot until it idles out.
    private func dropUpload(of call: IdempotentCall, _ effect: JSONValue) async {
        guard call.effectType == FinishContactUpload.type, var finish = try? JSONValueDecoder.decode(FinishContactUpload.self, from: effect) else { return }
        finish.commit = false
        _ = try? await store.finishUpload(finish)
    }
}
