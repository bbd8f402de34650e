import PlivoSimulator
import Runtime
import Transport

await runMain("rymi-plivo-sim") {
    let environment = Environment()
    if CommandLine.arguments.contains("--health-check") {
        return HealthProbe.http(try environment.address("RYMI_SIM_ADDR", default: "127.0.0.1:9090"), path: "/healthz") ? 0 : 1
    }
    raiseFileDescriptorLimit()
    let configuration = try SimulatorConfiguration(environment: environment)
    let logger = Logger(service: "plivo-sim", minimumLevel: configuration.logLevel)
    let simulator = try PlivoSimulator(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [simulator], logger: logger).run()
}
