// swift-tools-version: 6.0
// iqmpc: IQ-MPC world-model controllers for robots. README.md explains the layout.
import PackageDescription

/// Numeric targets are always optimised, even in debug builds: without `-target-cpu`
/// SIMD FMA lowers to libm calls (docs/platform.md), and an unoptimised
/// planner makes the test suite crawl. `haswell` = AVX2 + FMA, present on every
/// x86-64 robot computer of the last decade.
let numeric: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"]),
]

let package = Package(
    name: "iqmpc",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "iqmpc-runtime", targets: ["iqmpc-runtime"]),
        .executable(name: "iqmpc-train", targets: ["iqmpc-train"]),
        .executable(name: "iqmpc-sim", targets: ["iqmpc-sim"]),
        // The parsers of untrusted files, for the fuzzing package in Fuzz/ (a separate package
        // so that its sanitizer build never touches this one's .build).
        .library(name: "IQLink", targets: ["IQLink"]),
        .library(name: "IQWeightsFile", targets: ["IQWeightsFile"]),
        .library(name: "IQCalibration", targets: ["IQCalibration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: C bindings: system libraries, nothing else.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMuJoCo", providers: [.apt(["libmujoco-dev"])]),
        /// Heap-allocation counters: process, thread, group of threads (interposes malloc).
        .target(name: "CAllocCounter"),
        /// Real-time section marks for clang's RealtimeSanitizer (no-ops unless Scripts/rtsan.sh links it).
        .target(name: "CRealtimeSanitizer"),
        /// protobuf-c code generated from Proto/iqmpc.proto (committed) + the decode arena.
        .target(name: "IQProto", dependencies: ["CProtobufC"]),

        // MARK: Runtime half (deployed).
        /// Kernels on caller-owned buffers: GEMM, LayerNorm, Mish, SimNorm, RNG, top-k.
        .target(name: "IQKernels", dependencies: ["COpenBLAS", "CAllocCounter", "CRealtimeSanitizer"], swiftSettings: numeric),
        /// Model configuration, the safetensors weights file, forward passes.
        /// Strict JSON (grammar, duplicate keys, byte offsets) in front of Foundation's Codable.
        .target(name: "IQJSON"),
        /// The safetensors container and its errors: parses untrusted files, so it is compiled
        /// with the language's checks (not `numeric`'s -Ounchecked).
        .target(name: "IQWeightsFile", dependencies: ["IQJSON"]),
        .target(name: "IQModel", dependencies: ["IQKernels", "IQJSON", "IQWeightsFile", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: numeric),
        /// MPPI with the policy prior: workspace, deadline, worker threads.
        .target(name: "IQPlanner", dependencies: ["IQModel", "IQKernels", "CAllocCounter"], swiftSettings: numeric),
        /// Wire: protobuf-c codec with arena, ZeroMQ sockets, handshake, record files.
        .target(name: "IQLink", dependencies: ["IQProto", "CZeroMQ"]),
        /// Per-robot calibration: normalisation, action scaling, limits, budgets (file + checks).
        .target(name: "IQCalibration", dependencies: ["IQLink", "Yams", .product(name: "Crypto", package: "swift-crypto")]),
        /// Safety supervisor, control loop, telemetry, real-time set-up.
        .target(name: "IQRuntime", dependencies: [
            "IQPlanner", "IQKernels", "IQLink", "IQCalibration", "CAllocCounter", "CRealtimeSanitizer",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Offline half.
        /// Simulated robots on MuJoCo, expert controllers, the simulator server.
        .target(name: "IQPlants", dependencies: ["CMuJoCo", "IQLink", "IQKernels"], swiftSettings: numeric),
        /// Autodiff, losses, optimisers, replay buffers, the training loop.
        .target(name: "IQTrainer", dependencies: [
            "IQModel", "IQPlanner", "IQKernels", "IQLink", "IQPlants", "IQCalibration", "IQAnalysis", "IQWeightsFile", "IQJSON",
            "COpenBLAS",
        ], swiftSettings: numeric),

        /// Reading what the critic learned: rewards decoded from Q on logged transitions, their
        /// recovery against the true reward, logged episodes, summary statistics.
        .target(name: "IQAnalysis", dependencies: ["IQModel", "IQLink", "IQCalibration", "IQJSON"]),
        /// The demo's self-contained HTML report (inline SVG charts).
        .target(name: "IQReport", dependencies: ["IQAnalysis", "IQModel", "IQLink", "IQCalibration"]),

        // MARK: Benchmarks and test support: linked by executables' bench commands and by tests,
        // never by a library module.
        /// Forward-pass, planner and control-loop-overhead benchmarks (`iqmpc-runtime bench*`,
        /// `check-budget --overhead`).
        .target(name: "IQBench", dependencies: [
            "IQModel", "IQPlanner", "IQKernels", "IQRuntime", "IQCalibration", "IQLink",
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// The training-update benchmark (`iqmpc-train bench-update`).
        .target(name: "IQTrainerBench", dependencies: ["IQTrainer", "IQModel", "IQKernels", "COpenBLAS"]),
        /// Test peers and hooks: a scripted plant with fault injection, throw-hook suspension.
        .target(name: "IQTestSupport", dependencies: ["IQLink", "CAllocCounter"]),

        // MARK: Executables: argument parsing and wiring only.
        .executableTarget(name: "iqmpc-runtime", dependencies: [
            "IQRuntime", "IQBench", "IQJSON", "IQLink", "CAllocCounter",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "iqmpc-train", dependencies: [
            "IQTrainer", "IQTrainerBench", "IQReport", "IQAnalysis", "IQJSON", "IQLink", "IQCalibration", "CAllocCounter",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "iqmpc-sim", dependencies: [
            "IQPlants", "IQLink", "IQCalibration", "CAllocCounter",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests, one target per module.
        .testTarget(name: "IQKernelsTests", dependencies: ["IQKernels", "IQTestSupport", "CAllocCounter"]),
        .testTarget(name: "IQJSONTests", dependencies: ["IQJSON"]),
        .testTarget(name: "IQModelTests", dependencies: ["IQModel", "IQTestSupport", "CAllocCounter"]),
        .testTarget(name: "IQPlannerTests", dependencies: ["IQPlanner", "IQTestSupport", "CAllocCounter"]),
        .testTarget(name: "IQLinkTests", dependencies: ["IQLink", "IQTestSupport", "CZeroMQ", "CAllocCounter"]),
        .testTarget(name: "IQCalibrationTests", dependencies: ["IQCalibration", "IQLink", "IQTestSupport", "CAllocCounter"]),
        .testTarget(name: "IQRuntimeTests", dependencies: ["IQRuntime", "IQTestSupport", "CAllocCounter"]),
        .testTarget(name: "IQPlantsTests", dependencies: ["IQPlants", "IQLink", "IQCalibration", "IQKernels", "IQTestSupport", "CMuJoCo", "CAllocCounter"]),
        .testTarget(name: "IQTrainerTests", dependencies: ["IQTrainer", "IQKernels", "CAllocCounter", "IQTestSupport"]),
        .testTarget(name: "IQAnalysisTests", dependencies: ["IQAnalysis", "IQJSON", "IQCalibration", "IQLink", "IQModel"]),
        .testTarget(name: "IQReportTests", dependencies: ["IQReport", "IQCalibration", "IQLink", "IQModel"]),
    ],
    swiftLanguageModes: [.v6]
)
