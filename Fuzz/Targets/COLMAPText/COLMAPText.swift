// Fuzz target: COLMAP's text model readers. The first byte chooses the file
// (0 cameras.txt, 1 images.txt, 2 points3D.txt, taken modulo 3); the rest is
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
        case 0: _ = try? COLMAP.decodeCamerasText(file, path: "cameras.txt")
        case 1: _ = try? COLMAP.decodeImagesText(file, path: "images.txt")
        default: _ = try? COLMAP.decodePointsText(file, path: "points3D.txt")
        }
    }
    return 0
}

@main enum Main { static func main() { runFuzzer(fuzz) } }
