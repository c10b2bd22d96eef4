// Compiles a target's GLSL compute shaders to SPIR-V at build time.
//
// Each target that uses this plugin owns one folder of `Shaders/` (see
// `shaderFolders`); every `*.comp` in it becomes one generated Swift file that
// embeds the validated SPIR-V, so a release binary copied anywhere carries its
// shaders. Every header in `Shaders/` is an input of every shader, so editing a
// shared `#include` rebuilds the shaders that may use it.
import Foundation
import PackagePlugin

@main
struct ShaderCompilerPlugin: BuildToolPlugin {
    /// Which folder of `Shaders/` belongs to which target.
    static let shaderFolders: [String: String] = [
        "ComputePrimitives": "primitives",
        "Splatting": "splatting",
        "Language": "language",
        "Fields": "fields",
        "Training": "training",
        "Viewer": "viewer",
    ]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let folder = Self.shaderFolders[target.name] else {
            Diagnostics.error("ShaderCompilerPlugin: no Shaders/ folder is assigned to target \(target.name)")
            return []
        }
        let shaderRoot = context.package.directory.appending("Shaders")
        let glslc = try Self.findOnPath("glslc", package: "glslc")
        let spirvVal = try Self.findOnPath("spirv-val", package: "spirv-tools")
        let embed = try context.tool(named: "SPIRVEmbed")

        let fm = FileManager.default
        let headers = try Self.files(under: shaderRoot.string, fm: fm)
            .filter { $0.hasSuffix(".h") || $0.hasSuffix(".glsl") }
            .map { Path($0) }
        let sources = try Self.files(under: shaderRoot.appending(folder).string, fm: fm)
            .filter { $0.hasSuffix(".comp") }
            .sorted()

        return sources.map { source in
            let input = Path(source)
            let stem = input.stem
            let output = context.pluginWorkDirectory.appending("\(stem).spirv.swift")
            return .buildCommand(
                displayName: "Compiling shader \(folder)/\(input.lastComponent)",
                executable: embed.path,
                arguments: [glslc.string, spirvVal.string, input.string, output.string,
                            shaderRoot.string, "\(folder)/\(stem)"],
                inputFiles: [input] + headers,
                outputFiles: [output])
        }
    }

    static func files(under directory: String, fm: FileManager) throws -> [String] {
        guard let walker = fm.enumerator(atPath: directory) else { return [] }
        var result: [String] = []
        while let relative = walker.nextObject() as? String {
            result.append(directory + "/" + relative)
        }
        return result
    }

    /// Finds a program on PATH; the plugin looks for it itself so that the
    /// build fails with the Debian package to install rather than a bare error.
    static func findOnPath(_ name: String, package: String) throws -> Path {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return Path(candidate) }
        }
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return Path(candidate) }
        }
        throw ShaderPluginError.missingTool(name: name, package: package)
    }
}

enum ShaderPluginError: Error, CustomStringConvertible {
    case missingTool(name: String, package: String)
    var description: String {
        switch self {
        case let .missingTool(name, package):
            return "\(name) was not found on PATH; it compiles splat's shaders. Install it: apt-get install \(package)"
        }
    }
}
