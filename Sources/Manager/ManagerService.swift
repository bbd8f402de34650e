import Dialing
import Foundation
import HTTP1
import Protocol
import RPC
import Runtime
import SQLite
import Telephony
import Transport

/// Configuration of `rymi-manager`, from the environment.
public struct ManagerConfiguration: Sendable {
    public var listen: HostPort
    /// What gateways and dialers must each prove before the manager reads anything else of theirs.
    public var peerSecrets: [PeerRole: [UInt8]]
    /// Logged at start: short secrets, or one secret for both roles.
    public var secretWarnings: [String] = []
    public var rpcLimits = RPCServer.Limits()
    public var dataDirectory: String
    public var logLevel: Logger.Level
    var dispatch = DispatchConfiguration()
    var webhooks = WebhookSender.Settings()
    /// Numbers each account may call from, seeded at start (`RYMI_ACCOUNT_NUMBERS`).
    public var accountNumbers: [(account: String, number: String)] = []
    /// The calling window of campaigns that name none (`RYMI_DEFAULT_CALLING_WINDOW`).
    public var defaultWindow = CallingWindow.tcpa

    public init(environment: Environment) throws(ConfigurationError) {
        listen = try environment.address("RYMI_MANAGER_LISTEN", default: "127.0.0.1:7070")
        let gatewaySecret = try environment.secret("RYMI_GATEWAY_SECRET")
        let dialerSecret = try environment.secret("RYMI_DIALER_SECRET")
        peerSecrets = [.gateway: gatewaySecret, .dialer: dialerSecret]
        secretWarnings = WireAuthentication.weaknesses([("RYMI_GATEWAY_SECRET", gatewaySecret), ("RYMI_DIALER_SECRET", dialerSecret)])
        rpcLimits.maxConnections = try environment.integer("RYMI_MANAGER_MAX_CONNECTIONS", default: 1024, range: 1...100_000)
        rpcLimits.maxConnectionsPerHost = try environment.integer("RYMI_MANAGER_MAX_CONNECTIONS_PER_HOST", default: 64, range: 1...100_000)
        rpcLimits.handshakeTimeout = try environment.seconds("RYMI_MANAGER_HANDSHAKE_TIMEOUT", default: 5, range: 0.1...60)
        dataDirectory = try Self.dataDirectory(environment)
        logLevel = try environment.logLevel()
        dispatch.callsPerSecond = try environment.seconds("RYMI_DIAL_CPS", default: 2, range: 0...100_000)
        dispatch.maxConcurrentCalls = try environment.integer("RYMI_MAX_CONCURRENT_CALLS", default: 50, range: 1...1_000_000)
        webhooks.policy = OutboundURLPolicy(hostList: try environment.string("RYMI_WEBHOOK_ALLOW_HTTP_HOSTS"))
        webhooks.firstRetry = try environment.seconds("RYMI_WEBHOOK_FIRST_RETRY", default: 8, range: 0.05...600) * 1000
        if try environment.string("RYMI_ACCOUNT_MAX_CONCURRENT_CALLS") != nil {
            dispatch.accountMaxConcurrentCalls = try environment.integer("RYMI_ACCOUNT_MAX_CONCURRENT_CALLS", default: 0, range: 1...1_000_000)
        }
        dispatch.placementTimeout = try environment.seconds("RYMI_PLACEMENT_TIMEOUT", default: 30, range: 1...3600)
        dispatch.outcomeCheckAfter = try environment.seconds("RYMI_OUTCOME_CHECK_AFTER", default: 60, range: 0.1...86_400)
        dispatch.outcomeTimeout = try environment.seconds("RYMI_OUTCOME_TIMEOUT", default: 900, range: 0.1...86_400)
        accountNumbers = try Self.accountNumbers(try environment.string("RYMI_ACCOUNT_NUMBERS") ?? "")
        if let text = try environment.string("RYMI_DEFAULT_CALLING_WINDOW") {
            switch CallingWindow.parse(text: text) {
            case .success(let window): defaultWindow = window
            case .failure(let invalid):
                throw ConfigurationError("RYMI_DEFAULT_CALLING_WINDOW", "'\(text)': \(invalid.field) \(invalid.reason) (for example 08:00-21:00 or 09:00-20:00 mon,tue,wed,thu,fri)")
            }
        }
    }

    /// `account:number[,account:number…]`, numbers written with their country code.
    static func accountNumbers(_ text: String) throws(ConfigurationError) -> [(account: String, number: String)] {
        var numbers: [(account: String, number: String)] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let colon = entry.firstIndex(of: ":"), colon != entry.startIndex else {
                throw ConfigurationError("RYMI_ACCOUNT_NUMBERS", "'\(entry)' is not account:number")
            }
            switch PhoneNumber.canonical(String(entry[entry.index(after: colon)...])) {
            case .success(let number): numbers.append((String(entry[..<colon]), number))
            case .failure(let invalid): throw ConfigurationError("RYMI_ACCOUNT_NUMBERS", "'\(entry)': the number \(invalid.reason)")
            }
        }
        return numbers
    }

    public var databasePath: String { Self.databasePath(in: dataDirectory) }

    public static func dataDirectory(_ environment: Environment) throws(ConfigurationError) -> String { try environment.string("RYMI_DATA_DIR") ?? "./data" }
    public static func databasePath(in dataDirectory: String) -> String { (dataDirectory as NSString).appendingPathComponent("rymi.sqlite") }
}

/// `rymi-manager`: owns the SQLite state and the dispatch of calls; answers the other processes
/// over the line protocol.
public final class ManagerService: Service {
    public let server: RPCServer
    private let store: Store
    private let dispatcher: Dispatcher
    private let logger: Logger
    private let reader: Reader
    private let webhooks: WebhookSender
    private let background = BackgroundTasks()

    public init(configuration: ManagerConfiguration, logger: Logger) throws {
        self.logger = logger
        for warning in configuration.secretWarnings { logger.warning("weak_secret", ["problem": warning]) }
        try Self.prepareDataDirectory(configuration.dataDirectory)
        do {
            store = try Store(path: configuration.databasePath, defaultWindow: configuration.defaultWindow)
            reader = try Reader(path: configuration.databasePath)
        } catch let error as SQLiteError where error.isCorrupt {
            throw ConfigurationError("RYMI_DATA_DIR", "\(configuration.databasePath) is not a readable SQLite database (\(error.message)); refusing to start rather than overwrite it")
        } catch let error as StoreError {
            throw ConfigurationError("RYMI_DATA_DIR", "\(configuration.databasePath): \(error)")
        } catch let error as SQLiteError {
            throw ConfigurationError("RYMI_DATA_DIR", "cannot open \(configuration.databasePath): \(error.message)")
        }
        dispatcher = Dispatcher(store: store, configuration: configuration.dispatch, logger: logger)
        // The sender reads on a connection of its own, so API reads never wait behind it.
        webhooks = WebhookSender(store: store, reader: try Reader(path: configuration.databasePath), settings: configuration.webhooks,
                                 logger: logger, metrics: store.metrics)
        let router = Self.router(store: store, reader: reader, dispatcher: dispatcher, logger: logger)
        server = try RPCServer(address: configuration.listen, secrets: configuration.peerSecrets, limits: configuration.rpcLimits,
                               router: router, logger: logger)
    }

    static func prepareDataDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ConfigurationError("RYMI_DATA_DIR", "cannot create \(path): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw ConfigurationError("RYMI_DATA_DIR", "\(path) is not a directory")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw ConfigurationError("RYMI_DATA_DIR", "\(path) is not writable")
        }
    }

    /// Writes a consistent copy of the live database to `destination` (SQLite's `VACUUM INTO`,
    /// safe while the manager runs: WAL readers do not block the writer).
    /// Needs only the data directory: an operator can back up without the role secrets.
    public static func backup(dataDirectory: String, to destination: String) throws {
        let databasePath = ManagerConfiguration.databasePath(in: dataDirectory)
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw ConfigurationError("RYMI_DATA_DIR", "no database at \(databasePath)")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw ConfigurationError("--backup", "\(destination) exists; choose a new file")
        }
        let database = try Database(path: databasePath)
        try database.execute("PRAGMA busy_timeout = 10000")
        let quoted = destination.replacingOccurrences(of: "'", with: "''")
        try database.execute("VACUUM INTO '\(quoted)'")
    }

    /// Turns storage failures into errors the gateway can answer with.
    static func guarded<T: Sendable>(_ logger: Logger, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw remoteError(error, logger)
        }
    }

    /// `guarded` for reads on the reader's queue.
    static func guardedRead<T: Sendable>(_ logger: Logger, _ reader: Reader, _ body: @escaping @Sendable (Queries) throws -> T) async throws -> T {
        try await guarded(logger) { try await reader.read(body) }
    }

    /// `guarded` for a read answered on the spot when the reader is free (nil when it is busy).
    static func guardedReadIfFree<T: Sendable>(_ logger: Logger, _ reader: Reader, _ body: (Queries) throws -> T) throws -> T? {
        do {
            return try reader.readIfFree(body)
        } catch {
            throw remoteError(error, logger)
        }
    }

    private static func remoteError(_ error: any Error, _ logger: Logger) -> RemoteError {
        switch error {
        case let error as RemoteError:
            return error
        case let refusal as CampaignLifecycle.Refusal:
            return RemoteError(.conflict, refusal.description)
        case let error as SQLiteError where error.isFull:
            logger.error("storage_full", ["error": error.description])
            return RemoteError(.storageFull, "the database disk is full; nothing was written")
        default:
            logger.error("store_failed", ["error": "\(error)"])
            return RemoteError(.internal, "storage error")
        }
    }

    static func router(store: Store, reader: Reader, dispatcher: Dispatcher, logger: Logger) -> RPCRouter {
        var router = RPCRouter()
        router.on(Ping.self) { _, _ in Empty() }

        // Campaigns and contacts.
        router.on(CreateCampaign.self) { request, _ in try await guarded(logger) { try await store.createCampaign(request) } }
        // Reads: on the reader's connection; single rows right on the connection's loop when
        // the reader is free, else on its queue like the others.
        func singleRowRead<Message: RPCMessage>(_ type: Message.Type, _ query: @escaping @Sendable (Queries, Message) throws -> Message.Reply) {
            router.onImmediately(type) { request, _ in
                try guardedReadIfFree(logger, reader) { try query($0, request) }
            } otherwise: { request, _ in
                try await guardedRead(logger, reader) { try query($0, request) }
            }
        }
        router.on(GetCampaignStats.self) { request, _ in try await guardedRead(logger, reader) { try $0.stats(request) } }
        router.on(ListCampaigns.self) { request, _ in try await guardedRead(logger, reader) { try $0.listCampaigns(request) } }
        singleRowRead(GetCampaign.self) { try $0.campaign($1) }
        router.on(UpdateCampaign.self) { request, _ in
            let updated = try await guarded(logger) { try await store.updateCampaign(request) }
            if request.startAt != nil || request.endAt != nil { await dispatcher.deadlinesChanged(updated.seq) }
            if request.maxConcurrentCalls != nil || request.callsPerSecond != nil || request.machineDetection != nil || request.machineDetectionTime != nil {
                await dispatcher.sync(updated.seq)
            }
            return updated.record
        }
        router.on(DeleteCampaign.self) { request, _ in
            try await guarded(logger) { try await store.deleteCampaign(request) }
            return Empty()
        }
        router.on(UploadContacts.self) { request, _ in
            let upload = try await guarded(logger) { try await store.uploadContacts(request) }
            if upload.running { await dispatcher.contactsAdded(campaign: upload.campaignSeq) }
            return upload.result
        }
        router.on(BeginContactUpload.self) { request, _ in try await guarded(logger) { try await store.beginUpload(request) } }
        router.on(StageContacts.self) { request, _ in
            try await guarded(logger) { try await store.stageContacts(request) }
            return Empty()
        }
        router.on(FinishContactUpload.self) { request, _ in
            let upload = try await guarded(logger) { try await store.finishUpload(request) }
            if upload.running { await dispatcher.contactsAdded(campaign: upload.campaignSeq) }
            return upload.result
        }
        router.on(ListContacts.self) { request, _ in try await guardedRead(logger, reader) { try $0.listContacts(request) } }
        singleRowRead(GetContact.self) { try $0.contact($1) }

        // Lifecycle, Do-Not-Call, callbacks and dialers: the use cases below.
        let dialing = DialingUseCases(store: store, dispatcher: dispatcher, logger: logger)
        router.on(StartCampaign.self) { request, context in try await dialing.start(request, requestID: context.requestID) }
        router.on(PauseCampaign.self) { request, _ in try await dialing.pause(request) }
        router.on(ResumeCampaign.self) { request, context in try await dialing.resume(request, requestID: context.requestID) }
        router.on(CancelCampaign.self) { request, context in try await dialing.cancel(request, requestID: context.requestID) }
        router.on(AddDNC.self) { request, context in try await dialing.addDNC(request, requestID: context.requestID) }
        router.on(ListDNC.self) { request, _ in try await guardedRead(logger, reader) { try $0.listDNC(request) } }
        router.on(RemoveDNC.self) { request, context in try await dialing.removeDNC(request, requestID: context.requestID) }
        router.on(OptOutContact.self) { request, context in try await dialing.optOut(request, requestID: context.requestID) }
        router.on(AddNumber.self) { request, _ in try await guarded(logger) { try await store.addNumber(request) } }
        router.on(ListNumbers.self) { request, _ in try await guardedRead(logger, reader) { try $0.listNumbers(request) } }
        router.on(RemoveNumber.self) { request, _ in
            try await guarded(logger) { try await store.removeNumber(request) }
            return Empty()
        }
        router.on(RecordCallEvent.self) { request, _ in try await guarded(logger) { try await dispatcher.callEvent(request.event) } }
        router.on(GetDispatchStatus.self) { _, _ in await dispatcher.status }

        // Webhooks.
        router.on(AddWebhook.self) { request, _ in try await guarded(logger) { try await store.addWebhook(request) } }
        router.on(ListWebhooks.self) { request, _ in try await guardedRead(logger, reader) { try $0.listWebhooks(request) } }
        router.on(RemoveWebhook.self) { request, _ in
            try await guarded(logger) { try await store.removeWebhook(request) }
            return Empty()
        }
        router.on(RotateWebhookSecret.self) { request, _ in try await guarded(logger) { try await store.rotateWebhookSecret(request) } }
        router.on(ListDeliveries.self) { request, _ in try await guardedRead(logger, reader) { try $0.listDeliveries(request) } }
        router.on(Redeliver.self) { request, _ in try await guarded(logger) { try await store.redeliver(request) } }
        router.on(GetMetrics.self) { _, _ in MetricsText(text: store.metrics.registry.render() + (await dispatcher.gaugeText())) }
        router.on(RegisterDialer.self) { request, context in try await dialing.register(request, peer: context.peer) }
        let gate = IdempotencyGate(store: store, effects: router, logger: logger)
        router.on(IdempotentCall.self) { request, context in try await gate.serve(request, context) }
        router.on(BeginCall.self) { request, context in
            try await guarded(logger) { try await dispatcher.begin(request, from: context.peer, dialerName: context.peer.remoteName ?? "") }
        }
        router.on(ReportPlacement.self) { request, context in
            try await guarded(logger) { try await dispatcher.report(request, from: context.peer.remoteName ?? "") }
            return Empty()
        }
        return router
    }

    /// Whether a manager answers on the configured address: a full handshake, then a ping.
    public static func healthCheck(_ configuration: ManagerConfiguration) async -> Bool {
        let logger = Logger(service: "manager-health-check", minimumLevel: .error)
        guard let secret = configuration.peerSecrets[.gateway],
              let peer = try? await RPCClient.connect(to: HealthProbe.local(configuration.listen), role: .gateway, name: "health-check",
                                                      secret: secret, logger: logger) else { return false }
        defer { peer.close() }
        return (try? await peer.call(Ping(), timeout: 3)) != nil
    }

    /// Seeds the operator's account numbers; a number one account already holds cannot be
    /// given to another.
    public func prepare(_ configuration: ManagerConfiguration) async throws {
        do {
            try await store.seedNumbers(configuration.accountNumbers)
        } catch let error as RemoteError {
            throw ConfigurationError("RYMI_ACCOUNT_NUMBERS", error.message)
        }
    }

    public func run() async throws {
        try await dispatcher.start()
        let webhooks = self.webhooks
        await store.onOutboxCommit { bulk in Task { await webhooks.nudge(bulk: bulk) } }
        background.start { await webhooks.run() }
        let store = self.store, logger = self.logger
        background.start { await Self.purgeIdempotencyKeys(store: store, logger: logger) }
        logger.announce("listening", ["addr": server.localAddress.description])
        try await server.run()
    }

    /// Records of idempotency keys past their 24 hours go at start and every ten minutes.
    static func purgeIdempotencyKeys(store: Store, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let purged = try await store.purgeExpiredIdempotencyKeys(now: Timestamp.nowMilliseconds())
                if purged > 0 { logger.info("idempotency_keys_purged", ["count": "\(purged)"]) }
            } catch {
                logger.warning("idempotency_purge_failed", ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(600))
        }
    }

    public func shutdown() async {
        await server.shutdown()
        await dispatcher.stop()
        background.cancelAll()
        await store.checkpoint()
        logger.info("manager_stopped")
    }
}
