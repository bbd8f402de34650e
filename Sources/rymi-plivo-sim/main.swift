import PlivoSimulator
import Runtime

await runMain("rymi-plivo-sim") {
    raiseFileDescriptorLimit()
    let configuration = try SimulatorConfiguration(environment: Environment())
    let logger = Logger(service: "plivo-sim", minimumLevel: configuration.logLevel)
    let simulator = try PlivoSimulator(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [simulator], logger: logger).run()
}
