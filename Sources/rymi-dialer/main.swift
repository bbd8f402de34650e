import Dialer
import Runtime

await runMain("rymi-dialer") {
    let environment = Environment()
    if CommandLine.arguments.contains("--health-check") {
        return DialerService.healthCheck(statusFile: try DialerConfiguration.statusFile(environment)) ? 0 : 1
    }
    let configuration = try DialerConfiguration(environment: environment)
    let logger = Logger(service: "dialer", minimumLevel: configuration.logLevel)
    let dialer = DialerService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [dialer], logger: logger).run()
}
