import Foundation

/// One training image's language features, at the training image's size:
/// per level a segment map [H, W] of row indices into `features` (-1: no feature),
/// and the feature rows [M, D], each normalised to unit length.
///
/// The rows are held as f32 whatever the file held (LangSplat writes f16):
/// M x D x 4 bytes per image, e.g. 300 rows of 512 take 600 KiB.
public struct ImageFeatures: Equatable {
    public var width: Int
    public var height: Int
    /// Length of a feature row (D).
    public var dimension: Int
    /// Feature rows, each of unit length.  // [M, D] f32
    public var features: [Float]
    /// Number of feature rows (M).
    public var rowCount: Int
    /// Per level, each pixel's row in `features`, or -1 for none.  // [levels][H * W] i32, row-major
    public var segments: [[Int32]]
    /// The file(s) read, for messages.
    public var source: String

    public init(width: Int, height: Int, dimension: Int, features: [Float], rowCount: Int,
                segments: [[Int32]], source: String) {
        self.width = width
        self.height = height
        self.dimension = dimension
        self.features = features
        self.rowCount = rowCount
        self.segments = segments
        self.source = source
    }
}

/// Per-image language feature files, as LangSplat's preprocessing writes them
/// (CLIP embeddings of SAM segments), or dense feature maps.
public enum LanguageFeatureFiles {
    /// LangSplat's preprocessing output (`<stem>_f.npy` float32/float16 [M, D], the rows of all levels concatenated,
    /// and `<stem>_s.npy` [4, H', W']: row 0 the default level (ignored), rows 1-3 the s, m, l levels, values row indices
    /// already offset per level, -1 = none), or a dense map `<stem>.npy` [H', W', D].
    /// `imageName` is the frame's image file name or relative path; its stem is the last path component without extension.
    /// H', W' must equal height, width or be the same integer multiple k of both (then sampled by nearest neighbour:
    /// pixel (i, j) takes source pixel (k*i + k/2, k*j + k/2)).
    /// Returns nil when no file exists for this image (the trainer skips it with one warning).
    /// `levels`: how many of the s, m, l levels to return (1...3, the first `levels` of rows 1-3). A dense map has one
    /// level: it is returned for level 0 only, and `segments.count` is then 1 (the caller reports that).
    ///
    /// When both a LangSplat pair and a dense map exist, the pair is read.
    /// Bad files are a `DatasetError` naming the file: one of the pair
    /// without the other, a shape that does not fit, segment values that are
    /// not row indices, NaN or infinite features, or a zero feature row that a
    /// pixel uses (it has no direction to normalise to). The checks cover the
    /// whole file, not only the pixels sampled, so that the outcome does not
    /// depend on the training image's size.
    ///
    /// Memory: the files are read whole (`NPY.read`); the features are kept
    /// as f32, M x D x 4 bytes, plus 4 bytes a pixel per level.
    public static func load(directory: String, imageName: String, width: Int, height: Int, levels: Int) throws -> ImageFeatures? {
        // Segment values are Int32: a dense map may give every pixel its own row.
        guard width > 0, height > 0, width <= Int(Int32.max) / height else {
            throw DatasetError(directory, "language features asked for an image of \(width) x \(height) pixels")
        }
        guard (1...3).contains(levels) else {
            throw DatasetError(directory, "language feature levels must be 1, 2 or 3 (s, m, l), not \(levels)")
        }
        let stem = ((imageName as NSString).lastPathComponent as NSString).deletingPathExtension
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let featurePath = file(stem + "_f.npy"), segmentPath = file(stem + "_s.npy"), densePath = file(stem + ".npy")
        let manager = FileManager.default
        switch (manager.fileExists(atPath: featurePath), manager.fileExists(atPath: segmentPath)) {
        case (true, true):
            return try loadPair(featurePath: featurePath, segmentPath: segmentPath, width: width, height: height, levels: levels)
        case (true, false):
            throw DatasetError(segmentPath, "missing: \(stem)_f.npy exists but its segment maps \(stem)_s.npy do not (LangSplat writes both)")
        case (false, true):
            throw DatasetError(featurePath, "missing: \(stem)_s.npy exists but its features \(stem)_f.npy do not (LangSplat writes both)")
        case (false, false):
            guard manager.fileExists(atPath: densePath) else { return nil }
            return try loadDense(path: densePath, width: width, height: height)
        }
    }

    /// A LangSplat `_f.npy` / `_s.npy` pair.
    static func loadPair(featurePath: String, segmentPath: String, width: Int, height: Int, levels: Int) throws -> ImageFeatures {
        let featureArray = try NPY.read(path: featurePath)
        guard featureArray.shape.count == 2 else {
            throw DatasetError(featurePath, "expected features of shape [M, D] (2-D), found \(featureArray.shape)")
        }
        let rowCount = featureArray.shape[0], dimension = featureArray.shape[1]
        guard rowCount <= Int(Int32.max) else {
            throw DatasetError(featurePath, "\(rowCount) feature rows are more than a segment map can index")
        }
        var features = featureArray.values  // [M, D] f32
        try checkFinite(features, dimension: dimension, path: featurePath) { "row \($0)" }

        let segmentArray = try NPY.read(path: segmentPath)
        let shape = segmentArray.shape
        let expected = "expected [4, \(height), \(width)] (or an integer multiple of \(height) x \(width)), found \(shape)"
        guard shape.count == 3, shape[0] == 4 else { throw DatasetError(segmentPath, "LangSplat segment maps: \(expected)") }
        guard let scale = integerScale(sourceHeight: shape[1], sourceWidth: shape[2], height: height, width: width) else {
            throw DatasetError(segmentPath, "LangSplat segment maps do not match the image: \(expected)")
        }
        let sourceWidth = shape[2]
        let sourcePixels = shape[1] * shape[2]
        var used = [Bool](repeating: false, count: rowCount)
        var segments: [[Int32]] = []
        for level in 1...levels {
            // Row 0 is SAM's default level, indexing its own rows; training uses s, m, l.
            let map = segmentArray.values[(level * sourcePixels)..<((level + 1) * sourcePixels)]  // [H', W'] f32
            for (offset, value) in zip(0..., map) {
                // Compared in Double: Float(rowCount) may round up past rowCount.
                guard value.rounded() == value, value >= -1, Double(value) < Double(rowCount) else {
                    let row = offset / sourceWidth, column = offset % sourceWidth
                    throw DatasetError(segmentPath, "segment map \(level) at (row \(row), column \(column)) holds \(value), not a feature row index in -1..<\(rowCount) (-1 = none)")
                }
                if value >= 0 { used[Int(value)] = true }
            }
            segments.append(sample(map, sourceWidth: sourceWidth, scale: scale, width: width, height: height) { Int32($0) })
        }
        try normalise(&features, rowCount: rowCount, dimension: dimension, path: featurePath) { row in
            used[row] ? "it is used by segment maps in \((segmentPath as NSString).lastPathComponent)" : nil
        }
        return ImageFeatures(width: width, height: height, dimension: dimension, features: features, rowCount: rowCount,
                             segments: segments, source: "\(featurePath), \(segmentPath)")
    }

    /// A dense map [H', W', D]: each distinct row (bit for bit) becomes one
    /// feature row, so that maps constant per segment keep few rows.
    static func loadDense(path: String, width: Int, height: Int) throws -> ImageFeatures {
        let array = try NPY.read(path: path)
        let shape = array.shape
        let expected = "expected [\(height), \(width), D] (or an integer multiple of \(height) x \(width)), found \(shape)"
        guard shape.count == 3 else { throw DatasetError(path, "dense feature map: \(expected)") }
        guard let scale = integerScale(sourceHeight: shape[0], sourceWidth: shape[1], height: height, width: width) else {
            throw DatasetError(path, "dense feature map does not match the image: \(expected)")
        }
        let sourceWidth = shape[1], dimension = shape[2]
        let values = array.values  // [H', W', D] f32
        func location(_ pixel: Int) -> String { "pixel (row \(pixel / sourceWidth), column \(pixel % sourceWidth))" }
        try checkFinite(values, dimension: dimension, path: path, location: location)
        // Every pixel uses its own row, so a zero one anywhere has no direction.
        for pixel in 0..<(shape[0] * shape[1]) where values[(pixel * dimension)..<((pixel + 1) * dimension)].allSatisfy({ $0 == 0 }) {
            throw DatasetError(path, "the feature of \(location(pixel)) has length 0 and cannot be normalised")
        }

        var rowOf: [[UInt32]: Int32] = [:]  // a row's bits -> its index in `features`
        var features: [Float] = []
        let pixelIndices = sample(0..<(shape[0] * shape[1]), sourceWidth: sourceWidth, scale: scale,
                                  width: width, height: height) { $0 }
        var segment = [Int32](repeating: -1, count: width * height)
        for (pixel, source) in pixelIndices.enumerated() {
            let row = values[(source * dimension)..<((source + 1) * dimension)]
            let key = row.map(\.bitPattern)
            if let index = rowOf[key] {
                segment[pixel] = index
            } else {
                let index = Int32(rowOf.count)
                rowOf[key] = index
                features.append(contentsOf: row)
                segment[pixel] = index
            }
        }
        try normalise(&features, rowCount: rowOf.count, dimension: dimension, path: path) { _ in "a pixel uses it" }
        return ImageFeatures(width: width, height: height, dimension: dimension, features: features,
                             rowCount: rowOf.count, segments: [segment], source: path)
    }

    /// k when the source is k times the image in both directions (k >= 1), else nil.
    static func integerScale(sourceHeight: Int, sourceWidth: Int, height: Int, width: Int) -> Int? {
        guard sourceHeight > 0, sourceWidth > 0, sourceHeight % height == 0, sourceWidth % width == 0 else { return nil }
        let scale = sourceHeight / height
        return sourceWidth / width == scale ? scale : nil
    }

    /// The image-sized map [height, width] of a source map k times larger,
    /// by nearest neighbour: pixel (i, j) takes source pixel (k*i + k/2, k*j + k/2).
    static func sample<Source: RandomAccessCollection, Element>(
        _ map: Source, sourceWidth: Int, scale: Int, width: Int, height: Int, _ transform: (Source.Element) -> Element
    ) -> [Element] where Source.Index == Int {
        var result: [Element] = []
        result.reserveCapacity(width * height)
        for i in 0..<height {
            let rowStart = map.startIndex + (scale * i + scale / 2) * sourceWidth + scale / 2
            for j in 0..<width { result.append(transform(map[rowStart + scale * j])) }
        }
        return result
    }

    /// Throws at the first NaN or infinite value, naming where it is
    /// (`location` of its row).
    static func checkFinite(_ values: [Float], dimension: Int, path: String, location: (Int) -> String) throws {
        // dimension > 0 here: an array with no elements has no values.
        guard let index = values.firstIndex(where: { !$0.isFinite }) else { return }
        let what = values[index].isNaN ? "NaN in features" : "infinite value in features"
        throw DatasetError(path, "\(what) at \(location(index / dimension)), element \(index % dimension)")
    }

    /// Scales each row of `features` to unit length. A zero row is an error
    /// when `use(row)` says why it is needed, and is left as zeros otherwise.
    /// (D = 0 makes every row zero.)
    static func normalise(_ features: inout [Float], rowCount: Int, dimension: Int, path: String, use: (Int) -> String?) throws {
        for row in 0..<rowCount {
            let range = (row * dimension)..<((row + 1) * dimension)
            // Sums in Double: squares of small f32 values underflow in Float.
            var sum = 0.0
            for v in features[range] { sum += Double(v) * Double(v) }
            guard sum > 0 else {
                if let reason = use(row) {
                    throw DatasetError(path, "feature row \(row) has length 0 and cannot be normalised, but \(reason)")
                }
                continue
            }
            let scale = 1 / sum.squareRoot()
            for k in range { features[k] = Float(Double(features[k]) * scale) }
        }
    }
}
