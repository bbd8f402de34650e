import Manager
import Runtime

await runMain("rymi-manager") {
    raiseFileDescriptorLimit()
    let configuration = try ManagerConfiguration(environment: Environment())
    let logger = Logger(service: "manager", minimumLevel: configuration.logLevel)
    let manager = try ManagerService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [manager], logger: logger).run()
}
