// Fuzz target: the .spz reader (SPZFile.decode: gunzip and unpack).
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? SPZFile.decode(bytes, path: "fuzz.spz") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
