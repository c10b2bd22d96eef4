// Fuzz target: COLMAP's binary model readers. The first byte chooses the file
// (0 cameras.bin, 1 images.bin, 2 points3D.bin, taken modulo 3); the rest is
// its contents.
import Datasets
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzData(data, size)
    guard let selector = bytes.first else { return 0 }
    let file = Data(bytes.dropFirst())
    _ = Diagnostics.collecting {
        switch selector % 3 {
        case 0: _ = try? COLMAP.decodeCamerasBinary(file, path: "cameras.bin")
        case 1: _ = try? COLMAP.decodeImagesBinary(file, path: "images.bin")
        default: _ = try? COLMAP.decodePointsBinary(file, path: "points3D.bin")
        }
    }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
