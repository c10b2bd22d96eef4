import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Models
import Splatting
import Training
import Viewer

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train 3D or 4D Gaussians (or, with --method nerf, a hash-grid NeRF) from posed photos (COLMAP or transforms.json).",
        discussion: """
        The 3DGS recipe (Kerbl et al. 2023) on the GPU: each iteration renders
        one training view, computes (1 - lambda) L1 + lambda (1 - SSIM),
        back-propagates through the rasterizer and steps Adam with the
        original learning rates (position lr decaying 1.6e-4 -> 1.6e-6 over
        the run, times the scene extent). The SH degree rises by one every
        1000 iterations.

        Resolution schedule: training starts on images 1/2^N the size
        (--num-downscales, default 2) and doubles them every
        --resolution-schedule iterations (default 3000; 3/7 of a run shorter
        than 7000), so a 7000-iteration run spends its last 1000 at full
        size; the smaller copies are made once, at the start, and never
        below 32 px on their shorter side (fewer halvings then).

        Densification, --densify mcmc (the default; Kheradmand et al. 2024):
        the model holds at most --max-gaussians Gaussians (default 0.25 per
        pixel of a training image, at least 10,000; the scene's points are
        subsampled to fit); from iteration 500 to 25000, every 100, dead
        Gaussians (opacity <= 0.005) move onto live ones drawn by opacity,
        then 5% more are added the same way until the budget is reached, with
        the paper's opacity and scale correction; every step adds noise to
        the means of faint Gaussians; L1 regularisers on opacity and scale
        (--opacity-reg, --scale-reg, 0.01). New Gaussians start at opacity
        0.5 and 0.1 x the 3DGS neighbour scale.

        --densify adaptive is the original's adaptive density control: from
        iteration 500 to 15000, every 100, Gaussians whose mean screen-space
        gradient reaches 2e-4 are cloned (small) or split (large), faint ones
        (opacity < 0.005) pruned; opacities are reset every 3000 iterations
        (but not within 1500 of the end), after which, with --max-world-scale
        (the original's 0.1 x the extent; off by default here) or
        --max-screen-size, large Gaussians are pruned too; --max-gaussians
        caps the growth. The recipe before MCMC and the resolution schedule
        is `--densify adaptive --num-downscales 0`.

        Gaussians start from the scene's points (COLMAP), else from random
        points in a box around where the cameras look. With --eval, every 8th
        image (by name) is held out unless the scene has its own test split;
        test PSNR/SSIM are reported every --eval-every iterations and at the
        end.

        Output (--out, default a new output/<scene>/<date-time>):
        point_cloud.ply (3DGS layout; also point_cloud/iteration_N/point_cloud.ply
        at the end and every --save-ply-every iterations, as the original code),
        cameras.json, model.json, config.json, metrics.json and
        checkpoint/state.bin (parameters, Adam moments, densification
        statistics, iteration, RNG state), each written to a temporary name
        and renamed. Ctrl-C (or SIGTERM) stops after the current iteration and
        writes all of them; `--resume DIR` continues from DIR's checkpoint
        (same scene, --eval and --downscale). A NaN loss stops training with
        the iteration named; the last checkpoint written stays as it was.
        Exit codes: 0 done, 1 bad input, 2 device failure, 130 interrupted.

        --method gaussians4d trains 4D space-time Gaussians for a dynamic
        scene (every frame has a "time", as in D-NeRF's transforms_*.json;
        Yang et al. 2024; docs/gaussians4d.md): each Gaussian is sliced at
        a view's time into a 3D Gaussian before projection. --method auto
        (the default) picks gaussians4d when every frame has a time and
        gaussians otherwise. 4D runs start from --random-points random
        points over the camera box and uniform times (time deviation
        --initial-time-scale x the time span), train one view per step, and
        grow by adaptive density control whose splits sample in time too;
        point_cloud.ply then holds the time properties (t, scale_t,
        rot_r_0..3) and model.json says kind gaussians4d.

        --method language learns LangSplatV2's sparse language features (Li
        et al. 2025; docs/language.md) on the frozen geometry of a trained 3D
        model (--init MODEL) from per-image CLIP features (--features DIR, in
        LangSplat's format: <image>_f.npy and <image>_s.npy, or dense
        <image>.npy): per level a codebook of --codebook entries (k-means
        initialised) and per Gaussian logits whose top --top-k softmax weights
        are splatted; loss 1 - cos per pixel with a feature; Adam. Default
        3000 iterations, one view each. Output: point_cloud.ply (the frozen
        geometry), language_features.bin, model.json (kind language),
        cameras.json, config.json, metrics.json (test cosine per level) and
        checkpoint/language_state.bin; --resume, --save-every, --eval-every,
        --max-seconds and Ctrl-C work as for Gaussians. Query it with
        `splat query`.

        --method nerf trains instant-ngp's NeRF (Mueller et al. 2022;
        docs/nerf.md): hash encoding, density and colour MLPs, occupancy
        grid, 2^18 samples a batch (on a CPU device 2^14 samples, a 64^3 grid,
        256 march steps and 32-wide MLPs, unless --nerf-config says
        otherwise), Adam with L2 on the MLP weights and learning-rate decay
        (x0.33 every 10000 steps after 20000; a run bounded by --max-seconds
        decays on its time budget instead: x0.33 at three quarters of it and
        at 90% (decay_budget_points), unless the config sets decay_start or
        decay_interval);
        --profile times the stages and kernels. Output: model.nerf,
        model.json (kind nerf), cameras.json, config.json, metrics.json,
        checkpoint/model.nerf (with
        the optimiser state, every --save-every iterations and at the end);
        --resume DIR continues from it (a time-bounded run's resume never
        goes above the learning rate it had reached). A NaN loss stops training; the last
        checkpoint stays and no model is written. `splat render`, `eval`,
        `view`, `info` and `mesh` read the output folder.

        --method neus trains a signed-distance surface on the same engine
        (NeuS, Wang et al. 2021, as NeuS2 builds it on instant-ngp;
        docs/neus.md): SDF = MLP(position, hash encoding) with Softplus and
        biases, geometric initialisation to a sphere, NeuS's logistic-CDF
        volume weight with a trained sharpness, normals from a
        finite-difference gradient, the eikonal loss, progressive hash
        levels, and a mask loss when the scene has masks (the NeuS/IDR
        layout: image/, mask/, cameras_sphere.npz, trained inside the
        scale_mat's unit sphere). Same options and outputs as --method nerf
        (model.json kind neus); `splat mesh` extracts the zero level set and
        `splat render --normals` shades normals.
        """)

    @Argument(help: "The scene folder or transforms.json.")
    var scene: String
    @Option(help: "auto (gaussians4d when every frame has a time, else gaussians), gaussians (3DGS), gaussians4d (4D space-time Gaussians), language (LangSplatV2 features on a trained 3D model: --init, --features), nerf (instant-ngp hash-grid NeRF) or neus (NeuS2-style signed-distance surface on the same engine).")
    var method = "auto"
    @Option(help: "--method gaussians4d: the initial time standard deviation of each Gaussian, as a fraction of the training frames' time span (default 0.2).")
    var initialTimeScale: Double?
    @Option(help: "Weight of the opacity entropy regulariser, lambda mean(-o ln o) (4D-Rotor GS; default 0: off; docs/gaussians4d.md has its measured effect).")
    var opacityEntropy: Double?
    @Option(name: .customLong("consistency-4d"),
            help: "--method gaussians4d: weight of the 4D consistency regulariser, lambda mean_i |v_i - mean of its 8 space-time neighbours' v|_1 on the sliced means' velocities (4D-Rotor GS; default 0: off; docs/gaussians4d.md has its measured effect).")
    var consistency4D: Double?
    @Option(name: [.short, .long], help: "Output folder (default: a new output/<scene>/<date-time>/ for each run). A folder that already holds files needs --overwrite (or --resume).")
    var out: String?
    @Flag(help: "Let --out name a folder that already holds files: this run's files replace theirs.")
    var overwrite = false
    @Option(name: [.customShort("n"), .long], help: "Training iterations (default 7000; --method nerf or neus 20000; --method language 3000; or the checkpoint's with --resume).")
    var iterations: Int?
    @OptionGroup var imageScale: ImageScaleOptions
    var downscale: Int { imageScale.factor() }
    @Flag(help: "Hold out test images (every 8th by name without a test split) and report test metrics.")
    var eval = false
    @Option(help: "Stop after this many seconds (the model so far is saved).")
    var maxSeconds: Double?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(help: "Background: white, black or random (default: white for images with alpha, else black).")
    var background: String?
    @Option(help: "Random initial points when the scene has none. (default: \(Self.defaults.randomPoints))")
    var randomPoints: Int?
    @Option(help: "Initial position learning rate (times the scene extent). (default: \(Self.defaults.positionLR))")
    var positionLR: Double?
    @Option(help: "Final position learning rate (times the scene extent). (default: \(Self.defaults.positionLRFinal))")
    var positionLRFinal: Double?
    @Option(help: "SH DC learning rate (rest: / 20). (default: \(Self.defaults.featureLR))")
    var featureLR: Double?
    @Option(help: "Opacity learning rate. (default: \(Self.defaults.opacityLR))")
    var opacityLR: Double?
    @Option(help: "Scale learning rate. (default: \(Self.defaults.scalingLR))")
    var scalingLR: Double?
    @Option(help: "Rotation learning rate. (default: \(Self.defaults.rotationLR))")
    var rotationLR: Double?
    @Option(help: "D-SSIM weight lambda. (default: \(Self.defaults.lambdaDSSIM))")
    var lambdaDSSIM: Double?
    @Option(help: "Maximum SH degree (one more every 1000 iterations). (default: \(Self.defaults.maxSHDegree))")
    var shDegree: Int?
    @Option(help: "How the model grows: mcmc (relocation under a Gaussian budget, Kheradmand et al. 2024) or adaptive (3DGS's clone/split/prune). (default: \(Self.defaults.densify.rawValue))")
    var densify: String?
    @Option(help: "The Gaussian budget of --densify mcmc (default: \(MCMCSettings.budgetPerPixel) per pixel of a training image, at least \(MCMCSettings.minimumBudget)); with adaptive, growth stops here (default 0: no cap) and the largest gradients grow first.")
    var maxGaussians: Int?
    @Option(help: "Train first at 1/2^N of the image size, doubling every --resolution-schedule iterations up to the full size (0: full size throughout). (default: \(Self.defaults.resolution.downscales))")
    var numDownscales: Int?
    @Option(help: "Iterations at each size of --num-downscales (default: 3000, or 3/7 of a run shorter than 7000 iterations).")
    var resolutionSchedule: Int?
    @Option(help: "Densification starts after this iteration. (default: \(Self.defaults.densification.from))")
    var densifyFrom: Int?
    @Option(help: "Densification stops at this iteration (adaptive default: \(Self.defaults.densification.until); mcmc: \(Self.defaults.mcmc.until)).")
    var densifyUntil: Int?
    @Option(help: "Densify every this many iterations (0: never). (default: \(Self.defaults.densification.interval))")
    var densifyInterval: Int?
    @Option(help: "--densify mcmc: weight of the L1 regulariser on opacity. (default: \(Self.defaults.mcmc.opacityRegularization))")
    var opacityReg: Double?
    @Option(help: "--densify mcmc: weight of the L1 regulariser on scale. (default: \(Self.defaults.mcmc.scaleRegularization))")
    var scaleReg: Double?
    @Option(help: "--densify mcmc: position noise, times the position learning rate (0: none). (default: \(Self.defaults.mcmc.noiseLR))")
    var noiseLR: Double?
    @Option(help: "Mean screen-space gradient (NDC units) that triggers clone/split. (default: \(Self.defaults.densification.gradThreshold))")
    var densifyGradThreshold: Double?
    @Option(help: "Clone Gaussians at most this large (times the scene extent); split larger ones. (default: \(Self.defaults.densification.percentDense))")
    var percentDense: Double?
    @Option(help: "Prune Gaussians below this opacity. (default: \(Self.defaults.densification.minOpacity))")
    var minOpacity: Double?
    @Option(help: "Reset opacities to 0.01 every this many iterations (0: never). (default: \(Self.defaults.densification.opacityResetInterval))")
    var opacityResetInterval: Int?
    @Option(help: "After the first opacity reset, prune Gaussians with a world scale above this fraction of the scene extent; the original's 0.1 removed beer's distant background (21.3 vs 24.3 dB), so 0 (off) is the default...")
    var maxWorldScale: Double?
    @Option(help: "...and, when > 0, those with a screen radius above this (px). The original's 20 px test never fires (its radii are reset first), so 0 is the default.")
    var maxScreenSize: Double?

    @Flag(help: "Sparse Adam: skip parameters whose gradient is zero (Gaussians the view did not see).")
    var sparseAdam = false
    @Option(help: "Continue from this output folder's checkpoint (or a checkpoint folder); the recipe comes from the checkpoint, --iterations may extend it.")
    var resume: String?
    @Option(help: "Write checkpoint/ every this many iterations (0: only at the end and on Ctrl-C).")
    var saveEvery = 1000
    @Option(help: "Gaussians: also keep point_cloud/iteration_N/point_cloud.ply every this many iterations, as the original 3DGS code does (0, the default: only the final one, which is always written there too).")
    var savePlyEvery = 0
    @Option(help: "Test PSNR/SSIM every this many iterations when there is a test split (0: only at the end).")
    var evalEvery = 1000
    @Option(help: "Write TensorBoard training curves (train/loss, train/psnr, test/psnr, test/ssim, Gaussian count, learning rate, iterations per second) to an events.out.tfevents file in this folder (`tensorboard --logdir DIR`); --method language logs test/cosine.")
    var logDir: String?
    @Flag(help: "Watch training in a window (as `splat view`; needs a display): frames at reduced resolution between steps, slowing training by at most ~20%.")
    var view = false
    @Option(help: "With --view: render N viewer frames, then close the window (tests).")
    var viewFrames: Int?

    @Option(name: .customLong("init"), help: "Start from this Gaussian model (an output folder, the original 3DGS code's output folder, or a .ply) instead of the scene's points: fine-tuning (its SH degree converted to the run's, with one line saying so). --method language: the trained 3D model whose frozen geometry carries the features.")
    var initModel: String?
    @Option(help: "--method language: the folder of per-image features: LangSplat's <image>_f.npy [M, D] and <image>_s.npy [4, H, W] (or a dense <image>.npy [H, W, D]).")
    var features: String?
    @Option(help: "--method language: feature levels, the first N of LangSplat's s, m, l (default 3).")
    var levels: Int?
    @Option(help: "--method language: codebook entries per level, L (default 64, at most 64).")
    var codebook: Int?
    @Option(help: "--method language: sparse weights per Gaussian and level, K (default 4, at most 8).")
    var topK: Int?
    @Option(help: "--method language: Adam learning rate of the per-Gaussian logits (default 0.05).")
    var logitLR: Double?
    @Option(help: "--method language: Adam learning rate of the codebooks (default 0.002).")
    var codebookLR: Double?

    @Option(help: "--method nerf: a JSON configuration (tiny-cuda-nn spelling: encoding, network, rgb_network, learning_rate, beta1, beta2, epsilon, l2_reg, decay_start, decay_interval, decay_base, decay_budget_points, loss, rays_per_batch, samples_per_batch, grid_size, grid_update_points, march_steps, fp16_storage; docs/nerf.md, \"Configuration\", lists them); missing keys keep instant-ngp's defaults (on a CPU device: 2^14 samples, a 64^3 grid, 256 march steps, 1 x 32 MLPs).")
    var nerfConfig: String?
    @Option(help: "--method nerf: rays of the first batch (default 4096, 512 on a CPU); later batches adapt to --samples-per-batch.")
    var raysPerBatch: Int?
    @Flag(help: "--method nerf: fp16 storage of the MLPs' activations and deltas (where the device has 16-bit storage).")
    var fp16 = false
    @Option(help: "--method nerf: samples per training batch (instant-ngp: 262144; default 16384 on a CPU device).")
    var samplesPerBatch: Int?
    @Option(help: "--method nerf: ray-marching steps across the unit box (instant-ngp: 1024; default 256 on a CPU device; fewer is faster and coarser).")
    var marchSteps: Int?
    @Option(help: "--method nerf: how far the occupancy grid reaches, in unit boxes (a power of two; default: the transforms.json's aabb_scale, else 1).")
    var aabbScale: Int?
    @Flag(help: "--method nerf: time every training stage and GPU dispatch (timestamps cost a little); the totals go to stderr and metrics.json (profile_ms).")
    var profile = false

    func validate() throws {
        try OptionCheck.whole("--iterations", iterations, 1...100_000_000)
        try OptionCheck.positive("--max-seconds", maxSeconds)
        try OptionCheck.whole("--random-points", randomPoints, 1...100_000_000)
        // Parameters, gradients and Adam moments on the host and the device: about 1 KB a Gaussian.
        try HostMemory.check("--random-points", count: randomPoints ?? 0, bytesPerItem: 1024)
        for (name, rate) in [("--position-lr", positionLR), ("--feature-lr", featureLR), ("--opacity-lr", opacityLR),
                             ("--scaling-lr", scalingLR), ("--rotation-lr", rotationLR)] {
            try OptionCheck.number(name, rate, 0...10, aboveLowerBound: true)
        }
        try OptionCheck.number("--position-lr-final", positionLRFinal, 0...10)
        try OptionCheck.number("--lambda-dssim", lambdaDSSIM, 0...1)
        try OptionCheck.whole("--sh-degree", shDegree, 0...3)
        for (name, value) in [("--densify-from", densifyFrom), ("--densify-until", densifyUntil), ("--densify-interval", densifyInterval),
                              ("--opacity-reset-interval", opacityResetInterval), ("--save-every", saveEvery), ("--eval-every", evalEvery),
                              ("--save-ply-every", savePlyEvery)] {
            try OptionCheck.whole(name, value, 0...100_000_000)
        }
        try OptionCheck.whole("--max-gaussians", maxGaussians, 0...100_000_000)
        try HostMemory.check("--max-gaussians", count: maxGaussians ?? 0, bytesPerItem: 1024)
        try OptionCheck.choice("--densify", densify, DensificationStrategy.allCases.map(\.rawValue))
        try OptionCheck.whole("--num-downscales", numDownscales, 0...8)
        try OptionCheck.whole("--resolution-schedule", resolutionSchedule, 1...100_000_000)
        try OptionCheck.number("--opacity-reg", opacityReg, 0...1e6)
        try OptionCheck.number("--scale-reg", scaleReg, 0...1e6)
        try OptionCheck.number("--noise-lr", noiseLR, 0...1e12)
        // With --method auto the default strategy depends on the scene (4D: adaptive): checked in run().
        if method != "auto" { try checkStrategyOptions(dynamic: method == "gaussians4d") }
        try OptionCheck.positive("--densify-grad-threshold", densifyGradThreshold, upTo: 1e6)
        try OptionCheck.number("--percent-dense", percentDense, 0...1, aboveLowerBound: true)
        try OptionCheck.number("--min-opacity", minOpacity, 0...1)
        try OptionCheck.number("--max-world-scale", maxWorldScale, 0...1e6)
        try OptionCheck.number("--max-screen-size", maxScreenSize, 0...1e6)
        try OptionCheck.whole("--view-frames", viewFrames, 1...1_000_000)
        try OptionCheck.choice("--method", method, ["auto", "gaussians", "gaussians4d", "language", "nerf", "neus"])
        try OptionCheck.whole("--levels", levels, 1...3)
        try OptionCheck.whole("--codebook", codebook, 2...64)
        try OptionCheck.whole("--top-k", topK, 1...8)
        try OptionCheck.number("--logit-lr", logitLR, 0...100, aboveLowerBound: true)
        try OptionCheck.number("--codebook-lr", codebookLR, 0...100, aboveLowerBound: true)
        if method != "language" {
            let languageOnly = [("--features", features != nil), ("--levels", levels != nil),
                                ("--codebook", codebook != nil), ("--top-k", topK != nil), ("--logit-lr", logitLR != nil),
                                ("--codebook-lr", codebookLR != nil)].filter { $0.1 }.map { $0.0 }
            if !languageOnly.isEmpty {
                throw ValidationError("\(languageOnly.joined(separator: ", ")) \(languageOnly.count == 1 ? "is" : "are") for --method language")
            }
        }
        try OptionCheck.number("--initial-time-scale", initialTimeScale, 0...100, aboveLowerBound: true)
        try OptionCheck.number("--opacity-entropy", opacityEntropy, 0...1e6)
        try OptionCheck.number("--consistency-4d", consistency4D, 0...1e6)
        try OptionCheck.choice("--background", background, ["white", "black", "random"])
        try OptionCheck.whole("--rays-per-batch", raysPerBatch, 1...(1 << 22))
        try OptionCheck.whole("--samples-per-batch", samplesPerBatch, 64...(1 << 26))
        try OptionCheck.whole("--march-steps", marchSteps, 1...16384)
        try OptionCheck.powerOfTwo("--aabb-scale", aabbScale, 1...128)
        if method != "nerf" && method != "neus" {
            let nerfOnly = [("--nerf-config", nerfConfig != nil), ("--rays-per-batch", raysPerBatch != nil), ("--fp16", fp16),
                            ("--samples-per-batch", samplesPerBatch != nil), ("--march-steps", marchSteps != nil),
                            ("--aabb-scale", aabbScale != nil), ("--profile", profile)].filter { $0.1 }.map { $0.0 }
            if !nerfOnly.isEmpty {
                throw ValidationError("\(nerfOnly.joined(separator: ", ")) \(nerfOnly.count == 1 ? "is" : "are") for --method nerf or neus (Gaussian training's profile: splat bench train --profile)")
            }
        }
    }

    /// Options of the densification strategy this run does not use are refused.
    func checkStrategyOptions(dynamic: Bool) throws {
        let fallback = dynamic ? GaussianTrainingConfig.dynamic.densify : Self.defaults.densify
        let strategy = densify.flatMap(DensificationStrategy.init(rawValue:)) ?? fallback
        let misplaced = strategy == .mcmc ? adaptiveOnlyOptions : mcmcOnlyOptions
        if !misplaced.isEmpty {
            let other = strategy == .mcmc ? "adaptive" : "mcmc"
            throw ValidationError("\(misplaced.joined(separator: ", ")) \(misplaced.count == 1 ? "is" : "are") for --densify \(other) (this run uses \(strategy.rawValue)\(densify == nil ? ", the default\(dynamic ? " for 4D Gaussians" : "")" : ""))")
        }
    }

    /// Options only adaptive densification reads, as given.
    var adaptiveOnlyOptions: [String] {
        [("--densify-grad-threshold", densifyGradThreshold != nil), ("--percent-dense", percentDense != nil),
         ("--min-opacity", minOpacity != nil), ("--opacity-reset-interval", opacityResetInterval != nil),
         ("--max-world-scale", maxWorldScale != nil), ("--max-screen-size", maxScreenSize != nil)].filter { $0.1 }.map { $0.0 }
    }

    /// Options only MCMC densification reads, as given.
    var mcmcOnlyOptions: [String] {
        [("--opacity-reg", opacityReg != nil), ("--scale-reg", scaleReg != nil), ("--noise-lr", noiseLR != nil)].filter { $0.1 }.map { $0.0 }
    }

    /// The library's recipe (3DGS's defaults), for the help text.
    static let defaults = GaussianTrainingConfig()

    /// The recipe: the library's defaults (3D, or `.dynamic` for 4D) with the
    /// options given on the command line.
    func recipe(dynamic: Bool = false) -> GaussianTrainingConfig {
        var config = dynamic ? GaussianTrainingConfig.dynamic : Self.defaults
        if let initialTimeScale { config.initialTimeScale = initialTimeScale }
        if let opacityEntropy { config.opacityEntropy = opacityEntropy }
        if let consistency4D { config.consistency4D = consistency4D }
        config.iterations = iterations ?? config.iterations
        config.seed = seed
        config.sparseAdam = sparseAdam
        if let randomPoints { config.randomPoints = randomPoints }
        if let positionLR { config.positionLR = positionLR }
        if let positionLRFinal { config.positionLRFinal = positionLRFinal }
        if let featureLR { config.featureLR = featureLR }
        if let opacityLR { config.opacityLR = opacityLR }
        if let scalingLR { config.scalingLR = scalingLR }
        if let rotationLR { config.rotationLR = rotationLR }
        if let lambdaDSSIM { config.lambdaDSSIM = lambdaDSSIM }
        if let shDegree { config.maxSHDegree = shDegree }
        if let densify { config.densify = DensificationStrategy(rawValue: densify) ?? config.densify }
        if let numDownscales { config.resolution.downscales = numDownscales }
        if let resolutionSchedule { config.resolution.interval = resolutionSchedule }
        if let densifyFrom { config.densification.from = densifyFrom; config.mcmc.from = densifyFrom }
        if let densifyUntil { config.densification.until = densifyUntil; config.mcmc.until = densifyUntil }
        if let densifyInterval { config.densification.interval = densifyInterval; config.mcmc.interval = densifyInterval }
        if let opacityReg { config.mcmc.opacityRegularization = opacityReg }
        if let scaleReg { config.mcmc.scaleRegularization = scaleReg }
        if let noiseLR { config.mcmc.noiseLR = noiseLR }
        if let densifyGradThreshold { config.densification.gradThreshold = densifyGradThreshold }
        if let percentDense { config.densification.percentDense = percentDense }
        if let minOpacity { config.densification.minOpacity = minOpacity }
        if let opacityResetInterval { config.densification.opacityResetInterval = opacityResetInterval }
        if let maxWorldScale { config.densification.maxWorldScale = maxWorldScale }
        if let maxScreenSize { config.densification.maxScreenRadius = maxScreenSize }
        if let maxGaussians { config.densification.maxGaussians = maxGaussians; config.mcmc.budget = maxGaussians }
        return config
    }

    /// Both engines' start: the scene with its split, the output folder
    /// (checked writable), and the images at --downscale, split.
    /// The original 3DGS code's snapshot layout, point_cloud/iteration_N/point_cloud.ply,
    /// so its viewers and scripts find the model where they look.
    static func writeSnapshot(_ model: GaussianModel, iteration: Int, outDir: String) throws {
        let folder = outDir + "/point_cloud/iteration_\(iteration)"
        try OutputFolder.prepare(folder)
        try GaussianPLY.write(model, to: folder + "/point_cloud.ply")
    }

    /// Where a run writes: --out, else the resumed folder, else a new
    /// `output/<scene>/<date-time>` (a second run never lands in the first's
    /// folder). An --out that already holds files is refused unless
    /// --overwrite or --resume says to write there.
    static func outputFolder(out: String?, resume: String?, overwrite: Bool, scene: String,
                             now: Date = Date()) throws -> String {
        if let out {
            // A killed run's hidden temporaries (AtomicFile's) and empty folders are not a run's files.
            func files(_ path: String) -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { name in
                    guard !name.hasPrefix(".") else { return false }
                    var isFolder: ObjCBool = false
                    _ = FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isFolder)
                    return !isFolder.boolValue || !files(path + "/" + name).isEmpty
                }
            }
            let existing = files(out)
            if !existing.isEmpty && !overwrite && resume == nil {
                throw DatasetError(out, "already holds \(existing.count) file\(existing.count == 1 ? "" : "s") (another run's?); pass --overwrite to replace them, --resume \(out) to continue that run, or choose another --out")
            }
            return out
        }
        if let resume { return resume }
        let stamp = DateFormatter()
        stamp.dateFormat = "yyyy-MM-dd_HH-mm-ss"
        stamp.locale = Locale(identifier: "en_US_POSIX")
        var folder = "output/\(scene)/\(stamp.string(from: now))"
        // Two runs started in the same second get their own folders too.
        var k = 2
        while FileManager.default.fileExists(atPath: folder) { folder = "output/\(scene)/\(stamp.string(from: now))-\(k)"; k += 1 }
        return folder
    }

    func loadTrainingScene() throws -> (scene: Scene, outDir: String, frames: [LoadedFrame], train: [LoadedFrame], test: [LoadedFrame]) {
        let loaded = try SceneLoader.load(scene, options: SceneOptions(eval: eval))
        let outDir = try Self.outputFolder(out: out, resume: resume, overwrite: overwrite,
                                           scene: ((loaded.root as NSString).standardizingPath as NSString).lastPathComponent)
        try OutputFolder.prepare(outDir)
        AtomicFile.removeStale(in: outDir + "/checkpoint")  // a killed run's half-written checkpoint (the folder itself: OutputFolder.prepare)
        log("splat train: \(loaded.frames.count) images (\(loaded.trainFrames.count) train, \(loaded.testFrames.count) test); split: \(loaded.splitSource.isEmpty ? "scene files" : loaded.splitSource)")
        let (frames, _) = try SceneImages.load(loaded.frames, root: loaded.root, downscale: downscale)
        let train = frames.filter { $0.frame.split == .train }, test = frames.filter { $0.frame.split == .test }
        if train.isEmpty { throw DatasetError(scene, "no training images left after the split") }
        return (loaded, outDir, frames, train, test)
    }

    func run() throws {
        if method == "nerf" || method == "neus" { return try runNerf() }
        if method == "language" { return try runLanguage() }
        try runReportingErrors {
            let resumed = try resume.map { try GaussianCheckpoint.read(from: $0) }
            if let resume, let previous = RenderModel.recordedConfig(resume) {
                // The view order in the checkpoint indexes the training views: same split and sizes.
                if let e = previous["eval"] as? Bool, e != eval {
                    throw DatasetError(resume, "the checkpoint was trained \(e ? "with" : "without") --eval; resume the same way")
                }
                if let d = previous["downscale"] as? Int, d != downscale {
                    throw DatasetError(resume, "the checkpoint was trained with --downscale \(d); resume with the same value")
                }
            }
            let (loaded, outDir, frames, train, test) = try loadTrainingScene()
            let timed = loaded.frames.filter { $0.time != nil }.count
            let dynamic: Bool
            if let resumed {
                dynamic = resumed.model.hasTime
                if method != "auto" && (method == "gaussians4d") != dynamic {
                    throw DatasetError(resume!, "the checkpoint holds \(resumed.model.kind) Gaussians, not \(method); resume with --method \(resumed.model.kind) or auto")
                }
            } else {
                dynamic = method == "gaussians4d" || (method == "auto" && timed == loaded.frames.count)
            }
            if dynamic && timed < loaded.frames.count {
                throw DatasetError(scene, "--method gaussians4d needs a \"time\" on every frame; this scene's frames have none")
            }
            if resumed == nil && method == "auto" { try checkStrategyOptions(dynamic: dynamic) }
            if initialTimeScale != nil && !dynamic {
                throw ValidationError("--initial-time-scale is for --method gaussians4d (this scene's frames have no time)")
            }
            if (consistency4D ?? 0) > 0 && !dynamic {
                throw ValidationError("--consistency-4d is for --method gaussians4d (this scene's frames have no time)")
            }
            let hasAlpha = frames.contains { $0.image.hasAlpha }
            let backgroundName = background ?? (hasAlpha ? "white" : "black")
            // Evaluation and the saved model use white for a random training background.
            let bg = backgroundName == "black" ? SIMD3<Float>(0, 0, 0) : SIMD3<Float>(1, 1, 1)

            var config = resumed?.config ?? recipe(dynamic: dynamic)
            if let iterations { config.iterations = iterations }
            config.randomBackground = backgroundName == "random"
            var points = loaded.points
            if resumed == nil && config.densify == .mcmc {
                if config.mcmc.budget == 0 {
                    config.mcmc.budget = config.resolved(for: train).mcmc.budget
                    log("splat train: Gaussian budget \(config.mcmc.budget) (\(MCMCSettings.budgetPerPixel) per training-image pixel, at least \(MCMCSettings.minimumBudget); --max-gaussians sets it)")
                }
                let budget = config.mcmc.budget
                if let cloud = points, cloud.count > budget {
                    log("splat train: the scene's \(cloud.count) points exceed the budget of \(budget) Gaussians; starting from a random \(budget) of them")
                    points = GaussianInitialization.subsample(cloud, to: budget, seed: config.seed)
                } else if (points?.count ?? 0) == 0 && config.randomPoints > budget {
                    if randomPoints != nil { log("splat train: --random-points \(config.randomPoints) exceeds the budget of \(budget) Gaussians; starting from \(budget) random points") }
                    config.randomPoints = budget
                }
            }
            if resumed == nil && dynamic && config.densify == .adaptive && maxGaussians == nil {
                // Adaptive growth on a dynamic scene runs until the cap: one Gaussian per
                // training-image pixel (at least 10,000) keeps small scenes small.
                let pixels = train.reduce(0) { $0 + $1.intrinsics.width * $1.intrinsics.height } / train.count
                config.densification.maxGaussians = max(10_000, pixels)
                log("splat train: at most \(config.densification.maxGaussians) Gaussians (one per training-image pixel, at least 10,000; --max-gaussians sets it)")
            }
            let downscales = config.resolved(for: train).resolution.downscales
            if resumed == nil && downscales < config.resolution.downscales {
                let shortest = train.map { min($0.intrinsics.width, $0.intrinsics.height) }.min() ?? 0
                log("splat train: the resolution schedule starts at 1/\(1 << downscales) size, not 1/\(1 << config.resolution.downscales): images are not halved below \(ResolutionSchedule.minimumSide) px (shortest side \(shortest) px)")
                config.resolution.downscales = downscales
            }
            if resumed == nil, config.resolution.downscales > 0, config.resolution.fullSizeIteration(of: config.iterations) == nil {
                let halvings = config.resolution.level(atIteration: config.iterations, of: config.iterations)
                log("splat train: the resolution schedule (\(config.resolution.downscales) downscales, \(config.resolution.resolvedInterval(iterations: config.iterations)) iterations each) reaches full size after this \(config.iterations)-iteration run ends; training stays at 1/\(1 << halvings) size")
            }
            var initial: GaussianModel
            if let resumed {
                initial = resumed.model
            } else if let initModel {
                initial = try RenderModel.load(initModel).gaussians(for: "splat train --init")
                if initial.hasTime != dynamic {
                    throw DatasetError(initModel, "a \(initial.hasTime ? "4D" : "3D") model cannot start a \(dynamic ? "4D (gaussians4d)" : "3D") run")
                }
                if initial.shDegree != config.maxSHDegree {
                    log("splat train: --init \(initModel) has SH degree \(initial.shDegree); converted to \(config.maxSHDegree) (\(initial.shDegree > config.maxSHDegree ? "higher bands dropped" : "new bands start at zero"))")
                    initial = initial.withSHDegree(config.maxSHDegree)
                }
                if config.densify == .mcmc && initial.count > config.mcmc.budget {
                    log("splat train: --init has \(initial.count) Gaussians, more than the budget of \(config.mcmc.budget); the budget grows to match")
                    config.mcmc.budget = initial.count
                }
                log("splat train: starting from \(initial.count) Gaussians of \(initModel)")
            } else {
                initial = GaussianInitialization.forScene(points: points, poses: train.map(\.frame.pose), config: config)
            }
            if dynamic && resumed == nil && initModel == nil {
                let times = train.compactMap(\.frame.time)
                initial = GaussianInitialization.addingTime(to: initial, times: (times.min() ?? 0)...(times.max() ?? 1), config: config)
                log("splat train: 4D Gaussians (gaussians4d): \(train.count) training views over times \(String(format: "%.3g", times.min() ?? 0)) to \(String(format: "%.3g", times.max() ?? 1))")
            }
            // Outputs and checkpoints take about 1 KB per Gaussian; densification
            // grows the model, so ask for room for a few times the start.
            try checkFreeSpace(outDir, bytes: 32 << 20 + 4096 * initial.count)
            // With --view the window comes first: its device must also present to it.
            var session: ViewerSession?
            if view {
                var options = ViewerSession.Options()
                let first = train[0].intrinsics
                let fit = min(1.0, 1024.0 / Double(max(first.width, first.height)))
                options.width = max(64, Int(Double(first.width) * fit))
                options.height = max(64, Int(Double(first.height) * fit))
                options.title = "splat train \((scene as NSString).lastPathComponent)"
                options.cameras = train.map { ($0.frame.name, $0.intrinsics, $0.frame.pose) }
                options.startCamera = 0
                options.backgrounds = [bg, bg == .zero ? SIMD3(1, 1, 1) : .zero]
                options.exitAfter = viewFrames
                let sum = train.reduce(Vector3.zero) { $0 + $1.frame.pose.up }
                let up = sum.length > 1e-9 ? sum.normalized : Vector3(0, 0, 1)
                let home = CameraController(pose: train[0].frame.pose, focusDistance: loaded.normalization.extent / 1.1,
                                            worldUp: up, fovX: first.fovX)
                session = try ViewerSession(options: options, home: home)
            }
            let device = try session?.device ?? ComputeDevice.make()
            let trainer = try GaussianTrainer(device: device, frames: train, initial: initial,
                                              extent: loaded.normalization.extent, background: bg, config: config)
            if let resumed {
                try trainer.restore(resumed)
                log("splat train: resuming at iteration \(resumed.iteration) with \(resumed.model.count) Gaussians on \(device.info.displayName)")
            } else {
                log("splat train: \(initial.count) initial Gaussians on \(device.info.displayName)")
            }
            let total = config.iterations
            let interrupt = InterruptFlag()
            var history: [[String: Any]] = []
            let start = Date()
            let board = try logDir.map { try TensorBoardWriter(folder: $0) }
            func evaluate(_ label: String) throws -> (psnr: Double, ssim: Double, perImage: [(name: String, psnr: Double, ssim: Double)])? {
                guard !test.isEmpty else { return nil }
                let r = try Evaluate.metrics(rasterizer: trainer.rasterizer, frames: test, background: bg)
                try board?.scalars([("test/psnr", r.psnr), ("test/ssim", r.ssim)], step: trainer.iteration)
                history.append(["iteration": trainer.iteration, "test_psnr": r.psnr, "test_ssim": r.ssim,
                                "gaussians": trainer.rasterizer.gaussianCount, "seconds": Date().timeIntervalSince(start)])
                log(String(format: "\(label)test PSNR %.2f dB, SSIM %.4f (%d images, %d Gaussians, iteration %d)",
                           r.psnr, r.ssim, r.perImage.count, trainer.rasterizer.gaussianCount, trainer.iteration))
                return r
            }
            func saveCheckpoint() throws {
                try trainer.checkpoint().write(to: outDir + "/checkpoint")
            }

            var viewer: (session: ViewerSession, source: GaussianFrameSource)?
            if let session {
                if dynamic { log("splat train: --view shows 4D Gaussians at time 0 while training") }
                let source = GaussianFrameSource(rasterizer: trainer.rasterizer, settings: RasterSettings(background: bg))
                session.status = { [unowned trainer] in "iteration \(trainer.iteration)/\(total)" }
                session.begin(source: source)
                viewer = (session, source)
            }
            /// One viewer turn between steps (the next step renders its own frame again).
            func viewerStep(live: Bool) throws {
                guard let v = viewer else { return }
                v.source.settings.shDegree = config.shDegree(atIteration: trainer.iteration)
                if try !v.session.step(source: v.source, live: live) {
                    try v.session.finish()
                    viewer = nil
                    if live { log("\nsplat train: the viewer is closed; training goes on") }
                }
            }

            let startIteration = trainer.iteration
            var lastReport = Date.distantPast
            var lastLoss: Float = 0
            var viewPSNR = 0.0
            let terminal = isatty(2) != 0
            var stopReason: String?
            while trainer.iteration < total {
                let v: (loss: Float, l1: Float, ssim: Float)
                if let maxSeconds, trainer.iteration > startIteration {
                    // A time budget: the iterations it leaves at the rate so far.
                    let spent = Date().timeIntervalSince(start)
                    let rate = Double(trainer.iteration - startIteration) / max(spent, 1e-9)
                    trainer.iterationsLeftEstimate = Int(max(0, maxSeconds - spent) * rate)
                }
                do {
                    v = try trainer.step()
                } catch let error as ComputeError {
                    if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    let kept = FileManager.default.fileExists(atPath: outDir + "/checkpoint/" + GaussianCheckpoint.fileName)
                    throw ComputeError.invalidArgument("\(error.description); training stopped" + (kept ? "; the last good checkpoint is in \(outDir)/checkpoint" : ""))
                }
                lastLoss = v.loss
                let k = trainer.iteration
                let elapsed = Date().timeIntervalSince(start)
                if let board, k % 10 == 0 || k == total {
                    // Every 10 iterations; the training view's PSNR (one image download) every 100.
                    let schema = trainer.rasterizer.schema
                    var values = [("train/loss", Double(v.loss)), ("gaussians/count", Double(trainer.rasterizer.gaussianCount)),
                                  ("train/iterations_per_second", Double(k - startIteration) / max(elapsed, 1e-9))]
                    if let p = schema.index(of: .position) {
                        let rate = trainer.config.learningRate(for: schema.groups[p], iteration: k, extent: loaded.normalization.extent)
                        values.append(("train/learning_rate", Double(rate)))
                    }
                    if k % 100 == 0 || k == total, let p = try trainer.lastViewPSNR() { values.append(("train/psnr", p)) }
                    try board.scalars(values, step: k)
                }
                if Date().timeIntervalSince(lastReport) > (terminal ? 0.25 : 10) || k == total {
                    lastReport = Date()
                    if let p = try trainer.lastViewPSNR() { viewPSNR = p }
                    let rate = Double(k - startIteration) / max(elapsed, 1e-9)
                    let level = trainer.level(atIteration: k)
                    let line = String(format: "iteration %d/%d  %.1f it/s  loss %.4f  PSNR %.2f  %d Gaussians  ",
                                      k, total, rate, v.loss, viewPSNR, trainer.rasterizer.gaussianCount)
                        + (level > 0 ? "1/\(1 << level) size  " : "") + "ETA " + formatDuration(Double(total - k) / max(rate, 1e-9))
                    FileHandle.standardError.write(Data((terminal ? "\r" + line + "\u{1b}[K" : line + "\n").utf8))
                }
                try viewerStep(live: true)
                if !test.isEmpty && evalEvery > 0 && k % evalEvery == 0 && k < total {
                    if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    _ = try evaluate("splat train: ")
                }
                if saveEvery > 0 && k % saveEvery == 0 && k < total { try saveCheckpoint() }
                if savePlyEvery > 0 && k % savePlyEvery == 0 && k < total {
                    try Self.writeSnapshot(try trainer.rasterizer.currentModel(), iteration: k, outDir: outDir)
                }
                if let maxSeconds, elapsed > maxSeconds { stopReason = "--max-seconds \(maxSeconds)"; break }
                if interrupt.isSet { stopReason = "interrupted"; break }
            }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            if let stopReason { log("splat train: stopping after \(trainer.iteration) iterations (\(stopReason))") }
            let seconds = Date().timeIntervalSince(start)
            try saveCheckpoint()
            let model = try trainer.rasterizer.currentModel()

            var metrics: [String: Any] = ["iterations": trainer.iteration, "seconds": seconds, "final_loss": Double(lastLoss),
                                          "gaussians": model.count, "peak_memory_mb": peakResidentMegabytes(),
                                          "device": device.info.displayName]
            if let r = try evaluate("splat train: ") {
                metrics["test_psnr"] = r.psnr
                metrics["test_ssim"] = r.ssim
                metrics["test_images"] = r.perImage.count
            }
            if !history.isEmpty { metrics["history"] = history }
            try board?.close()
            try GaussianPLY.write(model, to: outDir + "/point_cloud.ply")
            try Self.writeSnapshot(model, iteration: trainer.iteration, outDir: outDir)
            try CamerasJSON.write(CamerasJSON.entries(frames), to: outDir + "/cameras.json")
            let center = loaded.normalization.center
            try writeJSON(["kind": model.kind, "format_version": 1, "sh_degree": model.shDegree, "antialias": "classic",
                           "background": [bg.x, bg.y, bg.z].map(Double.init), "scene_center": [center.x, center.y, center.z],
                           "scene_extent": loaded.normalization.extent, "split": loaded.splitSource,
                           "checkpoint": "checkpoint/" + GaussianCheckpoint.fileName], to: outDir + "/model.json")
            let configJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            try writeJSON(["training": configJSON, "scene": loaded.root, "downscale": downscale, "eval": eval,
                           "background": backgroundName, "resumed_from": resume as Any? ?? NSNull()], to: outDir + "/config.json")
            try writeJSON(metrics, to: outDir + "/metrics.json")
            log("splat train: \(trainer.iteration) iterations in \(String(format: "%.1f", seconds)) s; wrote \(outDir)")
            if let v = viewer { for line in v.session.frameReport() { log("splat train: viewer during training: \(line)") } }
            if viewer != nil && !interrupt.isSet {
                log("splat train: the viewer shows the trained model until you close it")
                while viewer != nil && !interrupt.isSet { try viewerStep(live: false) }
            }
            if interrupt.isSet {
                log("splat train: resume with: splat train \(scene) --resume \(outDir)")
                throw ExitCode(130)
            }
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM set a flag the training loop checks after each
/// iteration, so it can save a checkpoint and the model before exiting; a
/// second signal exits at once.
final class InterruptFlag {
    private let lock = NSLock()
    private var set = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let again = self.set
                self.set = true
                self.lock.unlock()
                if again { exit(130) }
                FileHandle.standardError.write(Data("\nsplat train: stopping after this iteration, saving a checkpoint (again to quit at once)\n".utf8))
            }
            source.resume()
            sources.append(source)
        }
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return set
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
}

func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Fails before any work when the output folder's file system has less than `bytes` free.
func checkFreeSpace(_ folder: String, bytes: Int) throws {
    var info = statvfs()
    guard statvfs(folder, &info) == 0 else { return }
    let free = Int(info.f_bavail) * Int(info.f_frsize)
    if free < bytes {
        throw DatasetError(folder, "only \(free >> 20) MB free on its file system; training needs about \(bytes >> 20) MB for its outputs and checkpoints")
    }
}

func writeJSON(_ object: Any, to path: String) throws {
    try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), to: path)
}
