import Foundation
import Manager
import Runtime
import Transport

await runMain("rymi-manager") {
    let environment = Environment()
    let arguments = CommandLine.arguments
    if arguments.contains("--health-check") {
        // Healthy when it completes the handshake (as a gateway: the secret is in this container
        // too) and answers a ping.
        let configuration = try ManagerConfiguration(environment: environment)
        return await ManagerService.healthCheck(configuration) ? 0 : 1
    }
    if let flag = arguments.firstIndex(of: "--backup") {
        guard flag + 1 < arguments.count else { throw ConfigurationError("--backup", "give the file to write, e.g. --backup /backups/rymi.sqlite") }
        try ManagerService.backup(dataDirectory: ManagerConfiguration.dataDirectory(environment), to: arguments[flag + 1])
        print("backup written to \(arguments[flag + 1])")
        return 0
    }
    raiseFileDescriptorLimit()
    let configuration = try ManagerConfiguration(environment: environment)
    let logger = Logger(service: "manager", minimumLevel: configuration.logLevel)
    let manager = try ManagerService(configuration: configuration, logger: logger)
    try await manager.prepare(configuration)
    return await ServiceGroup(services: [manager], logger: logger).run()
}
