// Fuzz target: the NeRF model file reader (NerfModelFile.decode). Needs no
// device: decoding only parses and checks.
import Datasets
import Fields
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? NerfModelFile.decode(bytes, path: "model.nerf") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
