// swift-tools-version:6.0
import PackageDescription

// Layout: C cores and shims are tiny targets of their own, each concern is one library,
// executables only parse arguments and call libraries, tests mirror the targets.
let package = Package(
    name: "MigrationInstrument",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "memeater", targets: ["Memeater"]),
        .executable(name: "pingmon", targets: ["PingMonitorCLI"]),
        .executable(name: "migverify", targets: ["MigVerifyCLI"]),
        .library(name: "MemeaterKit", targets: ["MemeaterKit"]),
        .library(name: "PingMonitor", targets: ["PingMonitor"]),
        .library(name: "Lab", targets: ["Lab"]),
        .library(name: "MigrationModel", targets: ["MigrationModel"]),
        .library(name: "SweepReport", targets: ["SweepReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Sweep matrix files: YAML with line numbers (Yams' Node API) and TOML.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // MARK: memeater — runs inside the guest
        // Hot loops, page stamping, verification and rate timing.
        .target(name: "CMemeater"),
        .target(name: "MemeaterKit", dependencies: ["CMemeater"]),
        .executableTarget(
            name: "Memeater",
            dependencies: [
                "MemeaterKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: pingmon — ICMP probing with capture timestamps
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(
            name: "PingMonitor",
            dependencies: ["CPcap", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        .executableTarget(
            name: "PingMonitorCLI",
            dependencies: ["PingMonitor", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: analysis — the pre-copy model, its fit to sweeps, statistics (pure: Foundation only)
        .target(name: "MigrationModel"),

        // MARK: libvirt, the lab and the verifier
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .target(name: "Libvirt", dependencies: ["CLibvirt"]),
        .target(name: "Lab", dependencies: ["Libvirt", "MemeaterKit", "PingMonitor"]),
        // The migration test case: scenarios, checks, results.
        .target(
            name: "Verifier",
            dependencies: [
                "Libvirt", "Lab", "PingMonitor", "MemeaterKit", "MigrationModel", "SweepReport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "MigVerifyCLI",
            dependencies: ["Lab", "Libvirt", "MemeaterKit", "Verifier", "MigrationModel", "SweepReport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: reports — pure rendering of a sweep's figures (HTML, Markdown, CSV, gnuplot SVG)
        // Free of libvirt and of the database: callers map stored results onto its values.
        .target(name: "SweepReport"),

        // MARK: tests
        // What the CLI tests share: every numeric option fed the same probes (not a test target, so that they can depend on it).
        .target(name: "CLITestSupport", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
                path: "Tests/CLITestSupport"),
        .testTarget(name: "MemeaterKitTests", dependencies: ["MemeaterKit", "CMemeater"]),
        .testTarget(name: "MemeaterTests", dependencies: ["Memeater", "CLITestSupport"]),
        .testTarget(name: "PingMonitorTests", dependencies: ["PingMonitor", "CPcap", "PingMonitorCLI", "CLITestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "Libvirt", "MemeaterKit", "PingMonitor"]),
        .testTarget(name: "MigrationModelTests", dependencies: ["MigrationModel"]),
        .testTarget(name: "SweepReportTests", dependencies: ["SweepReport"]),
        .testTarget(name: "VerifierTests", dependencies: ["Verifier", "MigVerifyCLI", "CLITestSupport", .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures"]),
    ]
)
