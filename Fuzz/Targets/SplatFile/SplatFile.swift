// Fuzz target: the .splat reader (SplatFile.decode).
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? SplatFile.decode(bytes, path: "fuzz.splat") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
