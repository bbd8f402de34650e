import Gateway
import Runtime

await runMain("rymi-gateway") {
    raiseFileDescriptorLimit()
    let environment = Environment()
    let configuration = try GatewayConfiguration(environment: environment)
    let logger = Logger(service: "gateway", minimumLevel: configuration.logLevel)
    let gateway = try GatewayService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [gateway], logger: logger).run()
}
