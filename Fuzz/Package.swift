// swift-tools-version: 6.0
// libFuzzer harnesses for the parsers of untrusted files, as their own package so that the
// sanitizer build (Scripts/fuzz.sh: -sanitize=fuzzer,address, its own --build-path) never
// shares a build directory or flags with the main package. Each target is one harness
// (`LLVMFuzzerTestOneInput`; libFuzzer supplies `main`) around the real entry point.
import PackageDescription

/// A path dependency is named after its directory, which is whatever the clone is called.
let root = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "iqmpc")

let package = Package(
    name: "iqmpc-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "RecordReaderFuzz", dependencies: [.product(name: "IQLink", package: root)]),
        .executableTarget(name: "SafeTensorsFuzz", dependencies: [.product(name: "IQWeightsFile", package: root)]),
        .executableTarget(name: "CalibrationFuzz", dependencies: [.product(name: "IQCalibration", package: root)]),
    ],
    swiftLanguageModes: [.v6]
)
