// swift-tools-version: 6.0
// A reference server for `make bench`: the same GET /healthz on Hummingbird 2 (SwiftNIO), so the
// gateway's HTTP layer is compared with it on the same machine in the same run. Kept out of the
// product's package: the product has no package dependencies.
import PackageDescription

let package = Package(
    name: "HummingbirdReference",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(name: "hb-reference", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
    ]
)
