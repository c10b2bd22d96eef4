// swift-tools-version:5.9
// libFuzzer targets for splat's readers: one executable per reader, each a
// single file defining LLVMFuzzerTestOneInput (libFuzzer supplies main).
// Kept out of the main package so that `swift build` / `swift test` never see
// them. Build and run with Tools/fuzz.sh (see README.md here); by hand:
//
//   swift build --package-path Fuzz --scratch-path .build-fuzz -c release \
//       -Xswiftc -sanitize=fuzzer,address --product FuzzGaussianPLY
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name (the checkout may not be
// called "splat"), so name it from the parent of this manifest's folder.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

/// (target, the library product of the main package it needs)
let targets: [(name: String, library: String)] = [
    ("GaussianPLY", "Datasets"),
    ("SplatFile", "Datasets"),
    ("SPZFile", "Datasets"),
    ("COLMAPText", "Datasets"),
    ("COLMAPBinary", "Datasets"),
    ("NerfModelFile", "Fields"),
    ("GaussianCheckpoint", "Splatting"),
    ("TransformsJSON", "Datasets"),
    ("CamerasJSON", "Datasets"),
    ("PNG", "Datasets"),
    ("JPEG", "Datasets"),
]

let package = Package(
    name: "splat-fuzz",
    products: targets.map { .executable(name: "Fuzz\($0.name)", targets: ["Fuzz\($0.name)"]) }
        + [.executable(name: "FuzzMakeSeeds", targets: ["FuzzMakeSeeds"])],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "Support"),
        // Not a fuzz target: writes the seeds that need the readers' encoders.
        .executableTarget(name: "FuzzMakeSeeds",
                          dependencies: [.product(name: "Fields", package: rootIdentity),
                                         .product(name: "Splatting", package: rootIdentity)],
                          path: "Seeds", swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ] + targets.map { target in
        .executableTarget(
            name: "Fuzz\(target.name)",
            dependencies: ["FuzzSupport", .product(name: target.library, package: rootIdentity)],
            path: "Targets/\(target.name)",
            // The target file has an @main (calling runFuzzer) and no top-level code.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
)
