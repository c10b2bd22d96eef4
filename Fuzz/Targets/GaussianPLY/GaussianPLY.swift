// Fuzz target: the 3DGS Gaussian PLY reader (GaussianPLY.decode).
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    // Bad input must throw (a DatasetError); only traps and hangs are bugs.
    _ = Diagnostics.collecting { try? GaussianPLY.decode(bytes, path: "fuzz.ply") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
