import ArgumentParser
import Compute
import Datasets
import Foundation
import Viewer

@main
struct Splat: ParsableCommand {
    /// The release: the issue series it completes (major 0 until the file formats are frozen).
    static let version = "0.26.0"

    static let configuration = CommandConfiguration(
        commandName: "splat",
        abstract: "A neural graphics renderer on Vulkan: Gaussian splatting and hash-grid NeRF.",
        discussion: """
        Environment:
          SPLAT_DEVICE=<index|name>   pick a Vulkan device (see `splat info --devices`)
          SPLAT_VALIDATION=1          enable Vulkan validation layers (when installed)
          SPLAT_PIPELINE_CACHE=0      do not keep compiled kernels in ~/.cache/splat
        """,
        version: "splat \(Splat.version)",
        subcommands: [Train.self, Render.self, Query.self, View.self, Eval.self, Info.self, Mesh.self, Convert.self, Fit.self, Upscale.self, EvalSR.self, Bench.self])

    /// Parses and runs, with the exit codes of docs/conventions.md: a bad command
    /// line is a user error (1), not ArgumentParser's usual 64.
    static func main() {
        do {
            var command = try parseAsRoot(OptionCheck.joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            // One line naming the option and the problem (docs/conventions.md: exit 1 for bad input); --help has the rest.
            let text = message(for: error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " ")
            FileHandle.standardError.write(Data("splat: error: \(text) (see --help)\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// Runs `body`, turning errors into the exit codes of docs/conventions.md:
/// 1 for a user error (bad input, missing device), 2 for an internal error.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ComputeError {
        printError(error.description)
        switch error {
        case .loaderMissing, .noDevice, .deviceNotFound, .limitExceeded, .invalidArgument:
            throw ExitCode(1)
        default:
            throw ExitCode(2)
        }
    } catch let error as DatasetError {
        printError(error.description)
        throw ExitCode(1)
    } catch let error as GLFW.Failure {
        printError(error.description)
        throw ExitCode(1)
    } catch let error as ViewerError {
        printError(error.description)
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(2)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("splat: error: \(message)\n".utf8))
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// Prints one JSON object on stdout (the only thing on stdout with --json).
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
