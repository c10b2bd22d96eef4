import CShaderLayouts
import Compute
import Foundation

/// What the viewer shows of a rendered frame.
public enum DisplayMode: String, CaseIterable {
    case rgb, depth, alpha

    var code: UInt32 {
        switch self {
        case .rgb: return DISPLAY_MODE_RGB
        case .depth: return DISPLAY_MODE_DEPTH
        case .alpha: return DISPLAY_MODE_ALPHA
        }
    }
}

/// Packs a rendered frame (colour [h, w, 4] f32, already sRGB-encoded, and
/// expected depth [h, w] f32) into a window's 8-bit pixels [H, W] u32 on the
/// GPU (`Shaders/viewer/display_pack.comp`), scaling a reduced-resolution
/// frame up by nearest neighbour. Rounding matches `splat render`'s PNGs.
public final class DisplayPack {
    public let device: ComputeDevice
    let kernel: Kernel
    let workgroupSize: Int

    public init(device: ComputeDevice) throws {
        self.device = device
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        kernel = try device.kernel(ShaderLibrary.displayPack, bindings: [.read, .read, .write],
                                   pushConstantBytes: MemoryLayout<DisplayParams>.size, specialization: [UInt32(workgroupSize)])
    }

    public struct Layout: Equatable {
        public var width: Int, height: Int            // window pixels
        public var sourceWidth: Int, sourceHeight: Int // rendered pixels
        public var mode: DisplayMode
        public var bgra: Bool
        public var depthFar: Float
        public init(width: Int, height: Int, sourceWidth: Int, sourceHeight: Int, mode: DisplayMode = .rgb, bgra: Bool = false,
                    depthFar: Float = 10) {
            (self.width, self.height, self.sourceWidth, self.sourceHeight) = (width, height, sourceWidth, sourceHeight)
            (self.mode, self.bgra, self.depthFar) = (mode, bgra, depthFar)
        }
        var params: DisplayParams {
            DisplayParams(width: UInt32(width), height: UInt32(height), srcWidth: UInt32(sourceWidth), srcHeight: UInt32(sourceHeight),
                          mode: mode.code, flags: bgra ? DISPLAY_FLAG_BGRA : 0, depthFar: depthFar, pad0: 0)
        }
    }

    /// Records the packing of `color` and `depth` into `pixels` (at least W H u32).
    public func record(_ stream: CommandStream, color: BufferRange, depth: BufferRange, pixels: BufferRange, layout: Layout) throws {
        guard layout.width > 0, layout.height > 0, layout.sourceWidth > 0, layout.sourceHeight > 0 else {
            throw ComputeError.invalidArgument("display of an empty frame")
        }
        let n = layout.width * layout.height
        try stream.dispatch(kernel, [color, depth, pixels], push: layout.params, groups: (n + workgroupSize - 1) / workgroupSize,
                            label: "display pack")
    }

    /// The Swift twin: `color` [h, w, 4], `depth` [h, w] -> [H, W] u32.
    public static func reference(color: [Float], depth: [Float], layout l: Layout) -> [UInt32] {
        func byte(_ v: Float) -> UInt32 { UInt32(min(max((v * 255 + 0.5).rounded(.down), 0), 255)) }
        var out = [UInt32](repeating: 0, count: l.width * l.height)
        for y in 0..<l.height {
            for x in 0..<l.width {
                let sx = min(x * l.sourceWidth / l.width, l.sourceWidth - 1)
                let sy = min(y * l.sourceHeight / l.height, l.sourceHeight - 1)
                let s = sy * l.sourceWidth + sx
                var rgb = (color[4 * s], color[4 * s + 1], color[4 * s + 2])
                let a = color[4 * s + 3]
                switch l.mode {
                case .rgb: break
                case .alpha: rgb = (a, a, a)
                case .depth:
                    let v: Float = a > 1e-6 ? 1 - min(max(depth[s] / a / l.depthFar, 0), 1) : 0
                    rgb = (v, v, v)
                }
                var b = (byte(rgb.0), byte(rgb.1), byte(rgb.2))
                if l.bgra { b = (b.2, b.1, b.0) }
                out[y * l.width + x] = b.0 | b.1 << 8 | b.2 << 16 | 255 << 24
            }
        }
        return out
    }
}
