// Fuzz target: transforms.json (Blender / instant-ngp scenes), TransformsJSON.decode.
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting { try? TransformsJSON.decode(bytes, path: "transforms.json") }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
