// SPIRVEmbed: compiles one GLSL compute shader to SPIR-V with glslc, validates
// it with spirv-val, and writes a Swift file that embeds the words.
//
// usage: SPIRVEmbed GLSLC SPIRV_VAL INPUT.comp OUTPUT.swift INCLUDE_DIR NAME
//
// The SPIR-V target is Vulkan 1.2 (SPIR-V 1.5): the oldest Vulkan that splat
// accepts, so the same binary runs on every device the core selects.
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { fail("cannot run \(executable): \(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

let args = CommandLine.arguments
guard args.count == 7 else {
    fail("usage: SPIRVEmbed GLSLC SPIRV_VAL INPUT.comp OUTPUT.swift INCLUDE_DIR NAME")
}
let (glslc, spirvVal, input, output, includeDir, name) = (args[1], args[2], args[3], args[4], args[5], args[6])
let spv = output + ".spv"

let compiled = run(glslc, ["--target-env=vulkan1.2", "-O", "-fshader-stage=compute",
                           "-I", includeDir, "-o", spv, input])
if compiled.status != 0 { fail("glslc failed on \(input):\n\(compiled.output)") }
let validated = run(spirvVal, ["--target-env", "vulkan1.2", spv])
if validated.status != 0 { fail("spirv-val rejected \(input):\n\(validated.output)") }

guard let words = FileManager.default.contents(atPath: spv), words.count % 4 == 0, words.count > 0 else {
    fail("glslc wrote no SPIR-V for \(input)")
}
// A base64 string literal keeps the Swift compiler fast on large modules
// (an array literal of thousands of integers type-checks slowly).
let stem = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
let parts = stem.split(separator: "_")
let symbol = parts.enumerated().map { i, p in i == 0 ? String(p) : p.prefix(1).uppercased() + p.dropFirst() }.joined()
let source = """
// Generated at build time by SPIRVEmbed from Shaders/\(name).comp. Do not edit.
import Compute

extension ShaderLibrary {
    /// SPIR-V of `Shaders/\(name).comp` (\(words.count) bytes), validated by spirv-val.
    static let \(symbol) = SPIRVBinary(name: "\(name)", base64: "\(words.base64EncodedString())")
}

"""
do {
    try source.write(toFile: output, atomically: true, encoding: .utf8)
    try? FileManager.default.removeItem(atPath: spv)
} catch {
    fail("cannot write \(output): \(error)")
}
