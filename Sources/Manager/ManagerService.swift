import Foundation
import Protocol
import RPC
import Runtime
import SQLite
import Transport

/// Configuration of `rymi-manager`, from the environment.
public struct ManagerConfiguration: Sendable {
    public var listen: HostPort
    public var dataDirectory: String
    public var logLevel: Logger.Level

    public init(environment: Environment) throws(ConfigurationError) {
        listen = try environment.address("RYMI_MANAGER_LISTEN", default: "127.0.0.1:7070")
        dataDirectory = environment.string("RYMI_DATA_DIR") ?? "./data"
        logLevel = try environment.logLevel()
    }

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("rymi.sqlite") }
}

/// `rymi-manager`: owns the SQLite state and answers the other processes over the line protocol.
public final class ManagerService: Service {
    public let server: RPCServer
    private let store: Store
    private let logger: Logger

    public init(configuration: ManagerConfiguration, logger: Logger) throws {
        self.logger = logger
        try Self.prepareDataDirectory(configuration.dataDirectory)
        do {
            store = try Store(path: configuration.databasePath)
        } catch let error as SQLiteError where error.isCorrupt {
            throw ConfigurationError("RYMI_DATA_DIR", "\(configuration.databasePath) is not a readable SQLite database (\(error.message)); refusing to start rather than overwrite it")
        } catch let error as StoreError {
            throw ConfigurationError("RYMI_DATA_DIR", "\(configuration.databasePath): \(error)")
        } catch let error as SQLiteError {
            throw ConfigurationError("RYMI_DATA_DIR", "cannot open \(configuration.databasePath): \(error.message)")
        }
        server = try RPCServer(address: configuration.listen, role: "manager", router: Self.router(store: store, logger: logger), logger: logger)
        logger.info("listening", ["addr": server.localAddress.description, "database": configuration.databasePath])
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

    static func router(store: Store, logger: Logger) -> RPCRouter {
        var router = RPCRouter()
        router.on(Ping.self) { _, _ in Empty() }
        router.on(CreateCampaign.self) { request, _ in try await guarded(logger) { try await store.createCampaign(request) } }
        router.on(ListCampaigns.self) { request, _ in try await guarded(logger) { try await store.listCampaigns(request) } }
        router.on(GetCampaign.self) { request, _ in try await guarded(logger) { try await store.campaign(request) } }
        router.on(UpdateCampaign.self) { request, _ in try await guarded(logger) { try await store.updateCampaign(request) } }
        router.on(DeleteCampaign.self) { request, _ in
            try await guarded(logger) { try await store.deleteCampaign(request) }
            return Empty()
        }
        router.on(UploadContacts.self) { request, _ in try await guarded(logger) { try await store.uploadContacts(request) } }
        router.on(ListContacts.self) { request, _ in try await guarded(logger) { try await store.listContacts(request) } }
        router.on(GetContact.self) { request, _ in try await guarded(logger) { try await store.contact(request) } }
        return router
    }

    /// Turns storage failures into errors the gateway can answer with.
    static func guarded<T: Sendable>(_ logger: Logger, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RemoteError {
            throw error
        } catch let error as SQLiteError where error.isFull {
            logger.error("storage_full", ["error": error.description])
            throw RemoteError(.storageFull, "the database disk is full; nothing was written")
        } catch {
            logger.error("store_failed", ["error": "\(error)"])
            throw RemoteError(.internal, "storage error")
        }
    }

    public func run() async throws {
        try await server.run()
    }

    public func shutdown() async {
        await server.shutdown()
        await store.checkpoint()
        logger.info("manager_stopped")
    }
}
