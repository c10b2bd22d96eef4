// Fuzz target: PNG images through ImageIO: the header-only size reader
// (readSize(data:path:)) and the full decoder (decode, libpng / libjpeg-turbo).
// Same code as the other image target; the seeds (Fuzz/Corpus/PNG) and the
// dictionary steer it to PNG.
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    _ = Diagnostics.collecting {
        _ = try? ImageIO.readSize(data: bytes, path: "fuzz.img")
        _ = try? ImageIO.decode(bytes, path: "fuzz.img")
    }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
