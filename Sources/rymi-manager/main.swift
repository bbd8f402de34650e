import Foundation
import Manager
import Runtime
import Transport

await runMain("rymi-manager") {
    let environment = Environment()
    let arguments = CommandLine.arguments
    if arguments.contains("--health-check") {
        // Healthy when it completes a hello and answers a ping.
        let address = try environment.address("RYMI_MANAGER_LISTEN", default: "127.0.0.1:7070")
        let replies = HealthProbe.lines(address, send: [
            #"{"v":1,"id":1,"type":"hello","body":{"protocolVersion":1,"role":"health-check","name":"health-check"}}"#,
            #"{"v":1,"id":2,"type":"ping","body":{}}"#,
        ], expecting: 2)
        return replies?.last?.contains(#""type":"ok""#) == true ? 0 : 1
    }
    if let flag = arguments.firstIndex(of: "--backup") {
        guard flag + 1 < arguments.count else { throw ConfigurationError("--backup", "give the file to write, e.g. --backup /backups/rymi.sqlite") }
        try ManagerService.backup(configuration: try ManagerConfiguration(environment: environment), to: arguments[flag + 1])
        print("backup written to \(arguments[flag + 1])")
        return 0
    }
    raiseFileDescriptorLimit()
    let configuration = try ManagerConfiguration(environment: environment)
    let logger = Logger(service: "manager", minimumLevel: configuration.logLevel)
    let manager = try ManagerService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [manager], logger: logger).run()
}
