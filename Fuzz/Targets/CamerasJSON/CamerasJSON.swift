// Fuzz target: cameras.json (3DGS and splat layouts), CamerasJSON.decode.
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? CamerasJSON.decode(bytes, path: "cameras.json") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
