// swift-tools-version:5.9
// splat: a neural graphics renderer whose compute core is Vulkan.
//
// Dependency direction (an arrow means "imports"):
//   splat -> ComputePrimitives -> Compute -> CVulkan
//   splat -> Datasets -> {Geometry, CPNG, CJPEG, CZlib}
//   splat -> Splatting -> {ComputePrimitives, Datasets}
//   splat -> Fields -> {ComputePrimitives, Training, Geometry}
//   splat -> Language -> {Splatting, Training, Datasets}
//   splat -> Models -> {Splatting, Fields}
//   splat -> Viewer -> {Compute, CGLFW (types only; libglfw is dlopened)}
// The compute core (Compute, ComputePrimitives) never imports a graphics module.
import PackageDescription

let package = Package(
    name: "splat",
    products: [
        .executable(name: "splat", targets: ["splat"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "ComputePrimitives", targets: ["ComputePrimitives"]),
        // The readers, for the libFuzzer package in Fuzz/ (see Fuzz/README.md).
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Fields", targets: ["Fields"]),
        .library(name: "Splatting", targets: ["Splatting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C modules. The Vulkan loader is opened at run time (dlopen) so that a
        // missing loader is a clear message, not a dynamic-linker failure.
        .target(name: "CVulkan", path: "Sources/CVulkan"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        // zlib: gzip for .spz model files.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // GLFW: header only; the viewer loads libglfw at run time.
        .systemLibrary(name: "CGLFW", path: "Sources/CGLFW", providers: [.apt(["libglfw3-dev"])]),
        // The one header that defines every buffer layout shared by GLSL and Swift.
        .target(name: "CShaderLayouts", path: "Sources/CShaderLayouts"),

        // Build-time shader compiler: GLSL -> SPIR-V (glslc), validated by
        // spirv-val, embedded into the product as Swift source.
        .executableTarget(name: "SPIRVEmbed", path: "Sources/SPIRVEmbed"),
        .plugin(name: "ShaderCompilerPlugin", capability: .buildTool(),
                dependencies: ["SPIRVEmbed"], path: "Plugins/ShaderCompilerPlugin"),

        .target(name: "Compute", dependencies: ["CVulkan"]),
        .target(name: "ComputePrimitives",
                dependencies: ["Compute", "CShaderLayouts"],
                plugins: ["ShaderCompilerPlugin"]),

        // Vectors, matrices, quaternions, camera models.
        .target(name: "Geometry"),
        // Scene formats, images, undistortion, cache, splits, camera paths, model files.
        .target(name: "Datasets", dependencies: ["Geometry", "CPNG", "CJPEG", "CZlib"]),

        // What the engines share: Adam, losses, metrics.
        .target(name: "Training", dependencies: ["Compute", "ComputePrimitives", "CShaderLayouts"],
                plugins: ["ShaderCompilerPlugin"]),
        // The tile-based Gaussian rasterizer: prepare, bin, sort, blend.
        .target(name: "Splatting",
                dependencies: ["Compute", "ComputePrimitives", "Geometry", "Datasets", "Training", "CShaderLayouts"],
                plugins: ["ShaderCompilerPlugin"]),

        // Language-feature Gaussians (LangSplatV2): sparse codebook weights on a
        // frozen 3D model, splatted by the shared rasterizer; training and queries.
        .target(name: "Language",
                dependencies: ["Compute", "ComputePrimitives", "Geometry", "Datasets", "Splatting", "Training", "CShaderLayouts"],
                plugins: ["ShaderCompilerPlugin"]),

        // Neural fields (instant-ngp, NeuS): hash-grid encoding, MLPs,
        // occupancy grid, ray marching, volume rendering.
        .target(name: "Fields",
                dependencies: ["Compute", "ComputePrimitives", "Geometry", "Datasets", "Training", "CShaderLayouts"],
                plugins: ["ShaderCompilerPlugin"]),

        // Trained models of every kind behind one interface: loading output
        // folders and model files, rendering, orbit cameras, test metrics.
        .target(name: "Models",
                dependencies: ["Compute", "Datasets", "Geometry", "Splatting", "Fields", "Training"]),

        // The interactive viewer: a GLFW window (libglfw loaded at run time)
        // with a Vulkan swapchain, input and camera control. The only code
        // that touches GLFW or presentation.
        .target(name: "Viewer", dependencies: ["Compute", "CVulkan", "CGLFW", "CShaderLayouts", "Geometry"],
                plugins: ["ShaderCompilerPlugin"]),

        .executableTarget(name: "splat", dependencies: [
            "Compute", "ComputePrimitives", "Geometry", "Datasets", "Splatting", "Fields", "Training", "Models", "Viewer", "Language",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "ComputeTestSupport", dependencies: ["Compute"], path: "Tests/ComputeTestSupport"),
        // Replays Fuzz/Crashers and Fuzz/Corpus through a reader (FuzzCrasherTests of each module).
        .target(name: "ReaderTestSupport", dependencies: ["Datasets"], path: "Tests/ReaderTestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "CVulkan", "ComputeTestSupport"]),
        .testTarget(name: "ComputePrimitivesTests",
                    dependencies: ["ComputePrimitives", "Compute", "CShaderLayouts", "ComputeTestSupport", "Geometry"]),
        .testTarget(name: "SystemModulesTests", dependencies: ["CPNG", "CJPEG", "CGLFW", "CShaderLayouts"]),
        .testTarget(name: "CLITests", dependencies: ["splat", "Datasets"]),
        .testTarget(name: "GeometryTests", dependencies: ["Geometry"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Geometry", "CJPEG", "ReaderTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Compute", "ComputeTestSupport", "Geometry"]),
        .testTarget(name: "ViewerTests", dependencies: ["Viewer", "Compute", "ComputeTestSupport", "Geometry"]),
        .testTarget(name: "FieldsTests",
                    dependencies: ["Fields", "Compute", "ComputeTestSupport", "Geometry", "Datasets", "CShaderLayouts", "ReaderTestSupport"]),
        .testTarget(name: "LanguageTests",
                    dependencies: ["Language", "Splatting", "Training", "Datasets", "Geometry", "Compute", "ComputeTestSupport"]),
        .testTarget(name: "SplattingTests",
                    dependencies: ["Splatting", "Training", "Datasets", "Geometry", "Compute", "ComputePrimitives", "ComputeTestSupport",
                                   "ReaderTestSupport"]),
    ]
)
