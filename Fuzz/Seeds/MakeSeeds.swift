// Writes the seed inputs only the readers' own encoders can make: small
// valid NeRF model files (a model and a checkpoint) and Gaussian training
// checkpoints. No device is used. Run by `Tools/fuzz.sh --make-seeds`;
// the other seeds come from Fuzz/make-corpus.py.
//
// usage: FuzzMakeSeeds CORPUS_FOLDER
import Datasets
import Fields
import Foundation
import Splatting

@main enum MakeSeeds {
    static func main() throws {
        guard CommandLine.arguments.count == 2 else {
            FileHandle.standardError.write(Data("usage: FuzzMakeSeeds CORPUS_FOLDER\n".utf8))
            exit(2)
        }
        let corpus = CommandLine.arguments[1]
        func write(_ data: Data, _ target: String, _ name: String) throws {
            let folder = "\(corpus)/\(target)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: "\(folder)/\(name)"))
            print("\(folder)/\(name): \(data.count) bytes")
        }

        // NeRF: the smallest configuration the reader accepts.
        var config = NerfConfig()
        config.encoding = HashGridConfig(levels: 2, featuresPerLevel: 1, log2HashmapSize: 4, baseResolution: 2)
        config.network = MLPConfig(neurons: 16, hiddenLayers: 0)
        config.rgbNetwork = MLPConfig(neurons: 16, hiddenLayers: 1)
        config.gridSize = 8
        config.marchSteps = 8
        config.samplesPerBatch = 1024
        config.raysPerBatch = 64
        for checkpoint in [false, true] {
            var header = NerfModelFile.Header(config: config, boxCenter: [0, 0.5, -1], boxSize: 2, aabbScale: 2,
                                              background: [1, 1, 1], iteration: 3)
            if checkpoint {
                header.optimizer = .init(step: 3, groups: NerfModelFile.groups, seed: 7, raysPerBatch: 64,
                                         learningRate: checkpoint ? 0.005 : nil)
            }
            guard header.problem == nil, let layout = NerfModelFile.Layout(header) else {
                fatalError("seed NeRF header is invalid: \(header.problem ?? "layout overflow")")
            }
            func ramp(_ n: Int) -> [Float] { (0..<n).map { Float($0 % 17) * 0.01 - 0.08 } }
            var contents = NerfModelFile.Contents(
                header: header, table: ramp(layout.table), densityWeights: ramp(layout.densityWeights),
                colourWeights: ramp(layout.colourWeights), occupancy: ramp(layout.occupancy),
                bits: (0..<layout.bits).map { UInt32($0) &* 0x9E37_79B9 })
            if checkpoint {
                for (group, size) in layout.groups { contents.moments[group] = (ramp(size), ramp(size).map(abs)) }
            }
            let data = try NerfModelFile.encode(contents)
            _ = try NerfModelFile.decode(data, path: "seed")  // must read back
            try write(data, "NerfModelFile", checkpoint ? "checkpoint.nerf" : "model.nerf")
        }

        // Gaussian checkpoints: 2 Gaussians of degree 0 and 1 of degree 1.
        for (count, degree) in [(2, 0), (1, 1)] {
            var model = GaussianModel(count: count, shDegree: degree)
            for i in model.positions.indices { model.positions[i] = Float(i) * 0.25 }
            for i in model.scales.indices { model.scales[i] = -2 - Float(i % 3) * 0.5 }
            for i in model.opacities.indices { model.opacities[i] = 0.3 }
            var moments: [String: (m: [Float], v: [Float])] = [:]
            for (group, values) in zip(model.schema.groups, model.parameterGroups) {
                moments[group.name] = ([Float](repeating: 0.001, count: values.count), [Float](repeating: 1e-6, count: values.count))
            }
            var trainingConfig = GaussianTrainingConfig()
            trainingConfig.iterations = 10
            let checkpoint = GaussianCheckpoint(
                iteration: 4, adamStep: 4, rngState: 0x1234_5678_9ABC, order: Array(0..<count).reversed(),
                densifications: 1, config: trainingConfig, model: model, moments: moments,
                gradAccum: [Float](repeating: 0.5, count: count), views: [Float](repeating: 2, count: count),
                maxRadius: [Float](repeating: 3, count: count))
            let data = try checkpoint.encoded()
            _ = try GaussianCheckpoint.decode(data, path: "seed")  // must read back
            try write(data, "GaussianCheckpoint", "degree\(degree)-\(count).bin")
        }
    }
}
