import Gateway
import Runtime
import Transport

await runMain("rymi-gateway") {
    let environment = Environment()
    if CommandLine.arguments.contains("--health-check") {
        return HealthProbe.http(try environment.address("RYMI_HTTP_ADDR", default: "127.0.0.1:8080"), path: "/healthz") ? 0 : 1
    }
    raiseFileDescriptorLimit()
    let configuration = try GatewayConfiguration(environment: environment)
    let logger = Logger(service: "gateway", minimumLevel: configuration.logLevel)
    let gateway = try GatewayService(configuration: configuration, logger: logger)
    return await ServiceGroup(services: [gateway], logger: logger).run()
}
