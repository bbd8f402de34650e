// swift-tools-version: 6.1
import PackageDescription

/// One settings list for every target: Swift 6 language mode and `any` spelled out.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Rymi",
    products: [
        .executable(name: "rymi-gateway", targets: ["rymi-gateway"]),
        .executable(name: "rymi-manager", targets: ["rymi-manager"]),
        .executable(name: "rymi-dialer", targets: ["rymi-dialer"]),
        .executable(name: "rymi-plivo-sim", targets: ["rymi-plivo-sim"]),
    ],
    targets: [
        // System and layer libraries, bottom up.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "SQLite", dependencies: ["CSQLite"], swiftSettings: settings),
        .target(name: "JSON", swiftSettings: settings),
        .target(name: "CSHA256"),
        .target(name: "Crypto", dependencies: ["CSHA256"], swiftSettings: settings),
        .target(name: "Runtime", dependencies: ["JSON", "Crypto"], swiftSettings: settings),
        .target(name: "CEpoll"),
        .target(name: "Transport", dependencies: ["Runtime", "CEpoll"], swiftSettings: settings),
        .target(name: "HTTP1", dependencies: ["Transport", "Runtime", "JSON"], swiftSettings: settings),
        .target(name: "Protocol", dependencies: ["JSON"], swiftSettings: settings),
        // Phone numbers and calling plans of the world: pure tables and rules.
        .target(name: "Telephony", swiftSettings: settings),
        .target(name: "Plivo", dependencies: ["HTTP1", "Crypto", "JSON", "Runtime"], swiftSettings: settings),
        // The dialing rules as sans-IO values: no sockets, no clock reads, no Foundation networking.
        .target(name: "Dialing", dependencies: ["Protocol"], swiftSettings: settings),
        .target(name: "RPC", dependencies: ["Protocol", "Transport", "Runtime", "JSON", "Crypto"], swiftSettings: settings),

        // Services.
        .target(
            name: "Manager",
            dependencies: ["Protocol", "Dialing", "Resources", "Telephony", "RPC", "SQLite", "Runtime", "Transport", "Crypto", "JSON", "HTTP1"],
            swiftSettings: settings
        ),
        // The API's resources as JSON: what the gateway answers and what webhooks carry.
        .target(name: "Resources", dependencies: ["Protocol", "Dialing", "Telephony", "JSON", "Runtime"], swiftSettings: settings),
        .target(name: "CSV", swiftSettings: settings),
        .target(
            name: "Gateway",
            dependencies: ["Protocol", "Resources", "CSV", "Dialing", "Telephony", "RPC", "HTTP1", "JSON", "Crypto", "Plivo", "Runtime", "Transport"],
            // The dashboard's files, embedded at build time.
            exclude: ["Dashboard"],
            swiftSettings: settings,
            plugins: ["EmbedDashboardPlugin"]
        ),
        .target(
            name: "Dialer",
            dependencies: ["Protocol", "RPC", "Plivo", "HTTP1", "Runtime"],
            swiftSettings: settings
        ),
        .target(
            name: "PlivoSimulator",
            dependencies: ["Plivo", "HTTP1", "JSON", "Crypto", "Runtime"],
            swiftSettings: settings
        ),

        // Thin executables: read config, build services, run.
        .executableTarget(name: "rymi-gateway", dependencies: ["Gateway", "Runtime"], swiftSettings: settings),
        .executableTarget(name: "rymi-manager", dependencies: ["Manager", "Runtime"], swiftSettings: settings),
        .executableTarget(name: "rymi-dialer", dependencies: ["Dialer", "Runtime"], swiftSettings: settings),
        .executableTarget(name: "rymi-plivo-sim", dependencies: ["PlivoSimulator", "Runtime"], swiftSettings: settings),
        .target(name: "Client", dependencies: ["HTTP1", "JSON"], swiftSettings: settings),
        .executableTarget(name: "rymi", dependencies: ["Client", "JSON"], swiftSettings: settings),
        // Build tools: the dashboard's files into the gateway.
        .executableTarget(name: "rymi-embed", swiftSettings: settings),
        .plugin(name: "EmbedDashboardPlugin", capability: .buildTool(), dependencies: ["rymi-embed"], path: "Sources/EmbedDashboardPlugin"),

        // Tests.
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: settings),
        .testTarget(name: "CSVTests", dependencies: ["CSV"], swiftSettings: settings),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime"], swiftSettings: settings),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto"], swiftSettings: settings),
        .testTarget(name: "PlivoTests", dependencies: ["Plivo", "JSON"], exclude: ["Fixtures"], swiftSettings: settings),
        .testTarget(name: "TransportTests", dependencies: ["Transport"], swiftSettings: settings),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "Runtime"], swiftSettings: settings),
        .testTarget(name: "ProtocolTests", dependencies: ["Protocol", "JSON"], swiftSettings: settings),
        .testTarget(name: "TelephonyTests", dependencies: ["Telephony"], swiftSettings: settings),
        .testTarget(name: "DialingTests", dependencies: ["Dialing", "Protocol"], swiftSettings: settings),
        .testTarget(name: "RPCTests", dependencies: ["RPC", "Protocol", "Crypto"], swiftSettings: settings),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"], swiftSettings: settings),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "JSON"], swiftSettings: settings),
        .testTarget(name: "DialerTests", dependencies: ["Dialer", "Plivo", "Protocol"], swiftSettings: settings),
        // Helpers the test suites share (not a test target itself).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: settings),
        .testTarget(name: "ManagerTests", dependencies: ["Manager", "Dialing", "Protocol", "Runtime", "SQLite", "TestSupport"], swiftSettings: settings),
        .testTarget(
            name: "SystemTests",
            dependencies: ["JSON", "SQLite", "Plivo", "Protocol", "RPC", "Crypto", "Telephony", "Runtime", "HTTP1", "Transport", "TestSupport"],
            exclude: ["Scripts"],
            swiftSettings: settings
        ),
    ]
)
