// What every fuzz target shares: a main that hands control to libFuzzer.
//
// SwiftPM links an executable's own entry point as `main`, so libFuzzer's
// main (in libclang_rt.fuzzer) is not used; each target's `@main` calls
// `runFuzzer(LLVMFuzzerTestOneInput)` instead, which runs libFuzzer's driver
// with the process's arguments (-max_total_time=, corpus folders, ...).
import Foundation

/// The signature of `LLVMFuzzerTestOneInput`.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzCallback) -> CInt

/// Runs libFuzzer on `callback` with the command-line arguments; never returns.
public func runFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// The input as `Data` (libFuzzer may pass a null pointer for an empty input).
public func fuzzData(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Data {
    guard let data, size > 0 else { return Data() }
    return Data(bytes: data, count: size)
}
