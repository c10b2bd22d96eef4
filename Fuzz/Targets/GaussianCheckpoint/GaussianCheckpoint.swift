// Fuzz target: the Gaussian training checkpoint reader
// (GaussianCheckpoint.decode, checkpoint/state.bin). Needs no device.
import Datasets
import Foundation
import FuzzSupport
import Splatting

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? GaussianCheckpoint.decode(bytes, path: "state.bin") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
