import Dialer
import Runtime

await runMain("rymi-dialer") {
    let configuration = try DialerConfiguration(environment: Environment())
    let logger = Logger(service: "dialer", minimumLevel: configuration.logLevel)
    let dialer = DialerService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [dialer], logger: logger).run()
}
