// splat: every buffer layout and push-constant block shared by GLSL and Swift.
//
// This one header is included by the shaders (glslc, GLSL 4.50) and by Swift
// through the CShaderLayouts C module, so both sides agree on every field.
// Rules that keep std430 (GLSL) and C layouts identical: only 32-bit scalar
// fields (u32, i32, f32), no vec3, structs padded to 16 bytes.
// Shapes are documented per field: `// [N] u32` means a buffer of N uint32.
#ifndef SPLAT_LAYOUTS_H
#define SPLAT_LAYOUTS_H

#ifdef VULKAN
#define u32 uint
#define i32 int
#define f32 float
#else
#include <stdint.h>
typedef uint32_t u32;
typedef int32_t i32;
typedef float f32;
#endif

// Specialisation constant ids used by every kernel (Kernel.swift passes the
// values in this order). Sizes come from the device at run time, never from
// constants in the shader.
#define SPEC_WORKGROUP_SIZE 0   // threads per workgroup (local_size_x)
#define SPEC_SUBGROUP_SIZE 1    // the smallest subgroup size the device may use
#define SPEC_ITEMS_PER_THREAD 2 // elements each thread handles per tile
#define SPEC_VARIANT 3          // kernel-specific switch (key width, reduce op, ...)

// ---------------------------------------------------------------------------
// Prefix sum (Shaders/primitives/scan_*.comp), reduce-then-scan.
// Buffers: input [count] u32, output [count] u32 (may alias input),
//          partials [tiles] u32, total [1] u32.
#define SCAN_FLAG_NONZERO 1u    // scan (x != 0 ? 1 : 0) instead of x (stream compaction)
#define SCAN_FLAG_ADD_PARTIALS 2u // add partials[tile] to each tile (downsweep of a multi-tile scan)
#define SCAN_FLAG_WRITE_TOTAL 4u  // write the sum of all elements to total[0]
struct ScanParams {
    u32 count;   // elements in this level
    u32 flags;   // SCAN_FLAG_*
    u32 pad0;
    u32 pad1;
};

// ---------------------------------------------------------------------------
// Reductions (Shaders/primitives/reduce.comp): tiles reduce to partials until one remains.
// Buffers: input [count] u32|f32, output [tiles] u32|f32.
#define REDUCE_SUM_U32 0u
#define REDUCE_MAX_U32 1u
#define REDUCE_SUM_F32 2u
#define REDUCE_MAX_F32 3u
struct ReduceParams {
    u32 count;   // elements to reduce
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

// ---------------------------------------------------------------------------
// Stream compaction (Shaders/primitives/compact_scatter.comp).
// Buffers: values [count] u32, flags [count] u32, offsets [count] u32
//          (exclusive scan of flags != 0), output [kept] u32.
struct CompactParams {
    u32 count;
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

// ---------------------------------------------------------------------------
// LSD radix sort (Shaders/primitives/radix_*.comp), 8-bit digits.
// Keys are RADIX_KEY_WORDS u32 words each (1: 32-bit keys, 2: 64-bit keys as
// (low, high) pairs); values are u32. One pass = count + scan + scatter.
// Buffers: keys [count * words] u32, values [count] u32,
//          histogram [RADIX_BINS * blocks] u32 (digit-major: digit * blocks + block).
// SPEC_VARIANT of the radix kernels: key words in the low bits, plus
// RADIX_VARIANT_SERIAL for the thread-serial ranking used on CPU drivers.
#define RADIX_VARIANT_KEY_WORDS_MASK 3u
#define RADIX_VARIANT_SERIAL 16u
#define RADIX_BITS 8u
#define RADIX_BINS 256u
struct RadixSortParams {
    u32 count;      // keys to sort
    u32 shift;      // lowest bit of this pass's digit
    u32 blocks;     // tiles of WORKGROUP_SIZE * ITEMS_PER_THREAD keys
    u32 digitMask;  // (1 << bits in this pass) - 1: bits above the significant ones are ignored
};

// ---------------------------------------------------------------------------
// Gaussian rasterizer (Shaders/splatting/*; docs/architecture.md), gsplat
// "classic" constants (docs/conventions.md). One pipeline for every kind of
// Gaussian: prepare (the kind's front end -> shared projection) -> scan ->
// emit keys -> radix sort -> tile ranges -> blend (payload channels, blend mode).
#define RASTER_TILE_SIZE 16u
#define RASTER_BATCH 256u             // splats staged in shared memory per round
#define RASTER_FLAG_ANTIALIAS 1u
#define RASTER_FLAG_DEPTH_GRADIENT 2u   // blend backward: a depth gradient is bound
#define RASTER_FLAG_SKIP_PAYLOAD 4u     // prepare: the caller supplies the payload; the front end writes none (backward: reads none)
#define RASTER_CHUNKS 4u              // bindings per chunked per-Gaussian buffer
// Specialisation constants of the blend kernels (after SPEC_VARIANT, which
// holds their pixels per thread):
#define SPEC_CHANNELS 4               // payload channels C (dense) or L (sparse)
#define SPEC_CHANNEL_CHUNK 5          // channels one workgroup blends; grid z covers the C channels
#define SPEC_SPARSE_PAIRS 6           // 0: dense payload [N, C] f32; K > 0: sparse [N, K, 2] (channel index bits, weight)
#define SPEC_BLEND_MODE 7             // RASTER_BLEND_*
#define SPEC_BLEND_BATCH 8            // splats staged per round (RASTER_BATCH, fewer where shared memory is short)
#define SPEC_SPARSE_GROUPS 9          // sparse pairs in G equal groups, group z's channels in chunk z (1: any pair, any chunk)
#define RASTER_BLEND_ALPHA 0u         // front-to-back alpha compositing over the background (3DGS)
#define RASTER_BLEND_ADDITIVE 1u      // order-independent sum of weight x payload, plus the background (GaussianImage)
// 3D model buffers (raw trainable parameters, structure of arrays; the schema
// in Sources/Datasets/Models/GaussianSchema.swift):
//   positions [N, 3] f32, scales [N, 3] f32 (log), rotations [N, 4] f32 (w, x, y, z),
//   opacities [N] f32 (logit), shDC [N, 3] f32, shRest [N, 3, K-1] f32 (channel-major per Gaussian).

// The camera and per-frame values, one uniform buffer per frame (std140 and
// C agree: scalars only, 16-byte multiple). Kinds read what they need: 4D
// Gaussians the time, 2D image Gaussians the pixel scale.
struct RasterFrame {
    f32 fx; f32 fy; f32 cx; f32 cy;
    f32 r00; f32 r01; f32 r02; f32 r10;   // world-to-camera rotation, row-major
    f32 r11; f32 r12; f32 r20; f32 r21;
    f32 r22; f32 tx; f32 ty; f32 tz;      // world-to-camera translation
    f32 camX; f32 camY; f32 camZ;         // camera centre in world coordinates
    f32 time;                             // the frame's time (kinds with time)
    u32 width; u32 height; u32 tilesX; u32 tilesY;
    u32 restPerChannel; // 3D: K - 1 of the model's SH degree
    u32 shDegree;    // 3D: degree to evaluate (<= the model's)
    f32 pixelScale;  // 2D: output pixels per model pixel
    u32 channels;    // payload channels C (or L)
    u32 pad0; u32 pad1; u32 pad2; u32 pad3;
};

// Push constants of every rasterizer dispatch.
struct RasterDispatch {
    u32 count;       // Gaussians (or intersections, for the per-intersection kernels)
    u32 chunk;       // Gaussians per binding of the chunked buffers (see splatting/chunks.glsl)
    u32 flags;       // RASTER_FLAG_*
    u32 payloadStride; // floats per Gaussian in the payload buffer: C dense, 2K sparse
};

// The prepare stage's output per Gaussian (48 bytes); its payload is a
// separate [N, payloadStride] buffer.
struct ProjectedSplat {
    f32 meanX; f32 meanY;               // pixel coordinates
    f32 conicA; f32 conicB; f32 conicC; // inverse 2D covariance
    f32 opacity;                        // after the antialiasing compensation
    f32 depth;                          // view-space z
    u32 tileMin;                        // x | y << 16
    u32 tileMax;                        // x | y << 16, exclusive
    f32 radiusX; f32 radiusY;           // per-axis extent in pixels
    f32 pad0;
};

// Gradients of one Gaussian's projected quantities (32 bytes), summed over
// pixels by splat_blend_backward; the payload's gradient is a separate
// [N, payloadStride] buffer (sparse: the weight slots).
struct SplatGradient {
    f32 meanX; f32 meanY;
    f32 conicA; f32 conicB; f32 conicC;
    f32 opacity;                        // w.r.t. the effective opacity (after compensation)
    f32 depth;
    f32 pad0;
};

// ---------------------------------------------------------------------------
// Adam (Kingma & Ba 2015) on one parameter group (Shaders/training/adam.comp).
// Buffers: params [count] f32, grads [count] f32, m [count] f32, v [count] f32.
#define ADAM_FLAG_SPARSE 1u   // skip elements whose gradient is exactly 0 (moments and value untouched)
struct AdamParams {
    u32 count;
    u32 flags;          // ADAM_FLAG_*
    f32 learningRate;
    f32 beta1;
    f32 beta2;
    f32 epsilon;
    f32 biasCorrection1; // 1 - beta1^t
    f32 biasCorrection2; // 1 - beta2^t
    f32 l2;             // L2 regularisation: g + l2 p (instant-ngp: 1e-6 on MLP weights)
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

// ---------------------------------------------------------------------------
// Image loss (Shaders/training/loss_*.comp): (1 - lambda) L1 + lambda (1 - SSIM),
// SSIM with an 11x11 Gaussian window (sigma 1.5) and zero padding (3DGS).
// Buffers: rendered [H, W, 4] f32 (rgb, alpha), target [H, W] u32 (RGBA8),
//   stats [H, W, 15] f32 (x, y, x^2, y^2, xy per channel), partials [H, W, 9] f32,
//   grad [H, W, 3] f32, l1Pixel and ssimPixel [H, W] f32 (sums over channels).
#define SSIM_RADIUS 5
#define LOSS_FLAG_COMPOSITE_TARGET 1u // the target's alpha is straight alpha: composite it over (bgR, bgG, bgB) first
struct LossParams {
    u32 width;
    u32 height;
    f32 lambda;       // D-SSIM weight (0.2)
    f32 invCount;     // 1 / (3 H W)
    f32 bgR; f32 bgG; f32 bgB; // background of the target's transparent pixels (LOSS_FLAG_COMPOSITE_TARGET)
    u32 flags;        // LOSS_FLAG_*
};

// ---------------------------------------------------------------------------
// Adaptive density control (Shaders/splatting/densify_*.comp; 3DGS, Kerbl et
// al. 2023, Sec. 5.2): statistics accumulated after each backward pass, then
// every few hundred steps clone / split / prune as one compaction:
// classify (outputs per Gaussian) -> prefix sum -> scatter (source map) ->
// gather (one dispatch per parameter group, moments included).
// Buffers: gradAccum [N] f32 (sum of |dL/d mean_ndc|), views [N] f32 (times
//   visible), maxRadius [N] f32 (px), outputs [N] u32 (0, 1 or 2 Gaussians
//   after densification), actions [N] u32 (DENSIFY_ACTION_* bits),
//   offsets [N] u32 (exclusive scan of outputs),
//   source [M] u32 (old index of new Gaussian j), kinds [M] u32 (DENSIFY_KIND_*).
#define DENSIFY_KIND_KEEP 0u     // unchanged, moments kept
#define DENSIFY_KIND_CLONE 1u    // a copy, fresh (zero) moments
#define DENSIFY_KIND_SPLIT0 2u   // first split child: mean sampled from N(mean, cov), scale / 1.6
#define DENSIFY_KIND_SPLIT1 3u   // second split child
#define DENSIFY_ACTION_KEEP 1u   // classify's actions bits: the Gaussian stays
#define DENSIFY_ACTION_CLONE 2u  // a copy is added
#define DENSIFY_ACTION_SPLIT 4u  // replaced by two children (when they survive pruning)
#define DENSIFY_FLAG_GROW 1u     // clone / split where the mean gradient reaches the threshold
#define DENSIFY_FLAG_PRUNE_SIZE 2u // also prune by screen radius and world scale
#define DENSIFY_FIELD_GENERIC 0u
#define DENSIFY_FIELD_POSITIONS 1u
#define DENSIFY_FIELD_SCALES 2u
#define DENSIFY_FIELD_TIME 3u    // 4D time means: split children sample in time (Scales holds the [N] time log-scales)
#define DENSIFY_HISTOGRAM_BINS 2048u // bins of the mean gradient (float bits >> 20) for --max-gaussians
struct DensifyParams {
    u32 count;            // Gaussians now (for gather: Gaussians after)
    u32 chunk;            // Gaussians per binding of the chunked projected splats
    f32 halfWidth;        // W / 2 and H / 2: pixel gradients to NDC units
    f32 halfHeight;
    f32 gradThreshold;    // mean NDC gradient norm that triggers clone / split (2e-4)
    f32 cloneMaxScale;    // world scale at or below which a Gaussian is cloned, else split (0.01 extent)
    f32 minOpacity;       // prune below (0.005)
    f32 maxScreenRadius;  // prune above, px (20), with DENSIFY_FLAG_PRUNE_SIZE
    f32 maxWorldScale;    // prune above (0.1 extent), with DENSIFY_FLAG_PRUNE_SIZE
    u32 flags;            // DENSIFY_FLAG_*
    u32 seed;             // split samples: hash of (seed, old index, child, axis)
    u32 field;            // gather: DENSIFY_FIELD_*
    u32 dim;              // gather: floats per Gaussian in this group
    f32 resetOpacity;     // opacity reset: logit ceiling
    f32 radiusScale;      // accumulate: rendered px to training-size px (2^level of the resolution schedule)
    u32 pad1;
};

// ---------------------------------------------------------------------------
// MCMC densification (Kheradmand et al. 2024, "3D Gaussian Splatting as Markov
// Chain Monte Carlo"; Shaders/splatting/mcmc_*.comp): the L1 regularisers'
// gradients, the position noise after each optimiser step, and the opacity and
// scale correction of relocated Gaussians. Buffers: opacities [N] f32 logits,
// scales [N, 3] f32 log, rotations [N, 4] f32 (w, x, y, z), positions [N, 3]
// f32, their gradients alike, ratios [N] u32 (copies sharing one Gaussian's
// opacity after relocation, itself included; 1 = untouched).
struct MCMCParams {
    u32 count;               // Gaussians
    u32 seed;                // noise: hash of (seed, index, axis)
    f32 opacityGradient;     // regularise: lambda_opacity / N (d mean(sigmoid) / d logit factor)
    f32 scaleGradient;       // regularise: lambda_scale / (3 N)
    f32 noiseScale;          // noise: position learning rate x noise_lr
    f32 minOpacity;          // dead below (0.005): the noise gate's centre and the relocation clamp
    f32 noiseSharpness;      // noise gate sigmoid(-k (opacity - minOpacity)), k = 100
    u32 maxRatio;            // relocation: ratios clamp here (51, as gsplat's table)
};

// Separable resampling by sparse matrices (Shaders/training/image_resample.comp):
// out[y, x, c] = sum_a sum_b Rows[y, a] Columns[x, b] in[a, b, c] over the
// nonzeros of each row of the two [out, in] matrices (CSR).
struct ResampleParams {
    u32 outWidth;
    u32 outHeight;
    u32 inWidth;
    u32 channels;     // channels resampled (the first `channels` of each pixel)
    u32 inStride;     // floats per input pixel
    u32 outStride;    // floats per output pixel (the rest left as they are)
    u32 pad0;
    u32 pad1;
};

// 4D consistency regulariser (Shaders/splatting/velocity_consistency.comp).
#define CONSISTENCY_VARIANT_VELOCITY 0u   // v_i = V / W
#define CONSISTENCY_VARIANT_RESIDUAL 1u   // dL/dv from the neighbour residuals
#define CONSISTENCY_VARIANT_CHAIN 2u      // dL/dv -> log-scales and quaternions
struct ConsistencyParams {
    u32 count;       // Gaussians
    u32 neighbours;  // K per Gaussian
    f32 weight;      // lambda / N
    u32 pad;
};

// Opacity entropy regulariser (Shaders/splatting/opacity_entropy.comp).
struct EntropyParams {
    u32 count;    // Gaussians
    f32 weight;   // lambda / N
};

// ---------------------------------------------------------------------------
// Viewer (Shaders/viewer/display_pack.comp): a rendered frame [srcH, srcW]
// (colour [.., 4] f32 already sRGB-encoded, expected depth [..] f32) packed
// into the window's [H, W] u32 8-bit pixels, nearest-neighbour scaled when
// the frame was rendered at reduced resolution.
#define DISPLAY_MODE_RGB 0u
#define DISPLAY_MODE_DEPTH 1u     // alpha-normalised depth, near white .. far (depthFar) black
#define DISPLAY_MODE_ALPHA 2u
#define DISPLAY_FLAG_BGRA 1u      // the window's format is B8G8R8A8 (else R8G8B8A8)
struct DisplayParams {
    u32 width;        // window pixels
    u32 height;
    u32 srcWidth;     // rendered pixels
    u32 srcHeight;
    u32 mode;         // DISPLAY_MODE_*
    u32 flags;        // DISPLAY_FLAG_*
    f32 depthFar;     // depth mapped to black
    u32 pad0;
};

// ---------------------------------------------------------------------------
// Multiresolution hash encoding (Shaders/fields/hash_encode*.comp; instant-ngp,
// Mueller et al. 2022, Sec. 3). Each level is a table of `entries` feature
// vectors (F floats each): dense (index x + y res + z res^2) while res^3 fits,
// else hashed (x * 1 ^ y * 2654435761 ^ z * 805459861), modulo `entries`.
// Buffers: points [N, 3] f32 in [0, 1]^3, levels [L] HashGridLevel,
//          table [sum of entries, F] f32, encoded [N, stride] f32 (point-major;
//          level l's features at columns column + l F ..< column + (l + 1) F),
//          table gradient [sum of entries, F] f32 (accumulated with float atomics),
//          encoded gradient [N, stride] f32 (same columns), point gradient [N, 3] f32.
#define HASH_PRIME_Y 2654435761u
#define HASH_PRIME_Z 805459861u
struct HashGridLevel {
    u32 offset;      // first table entry of this level (entries, not floats)
    u32 entries;     // entries in this level: min(res^3, 2^T) rounded up to a multiple of 8
    u32 resolution;  // grid vertices per axis: ceil(scale) + 1
    f32 scale;       // b^l N_min - 1; a point x maps to scale x + 0.5
    u32 hashed;      // 1 when res^3 exceeds the table (hash), 0 when dense
    u32 pad0;
    u32 pad1;
    u32 pad2;
};
struct HashEncodeParams {
    u32 count;        // points N
    u32 levels;       // L
    u32 features;     // F per level: 1, 2, 4 or 8
    u32 activeLevels; // levels l >= activeLevels encode 0 and get no gradient (NeuS2's progressive levels); L = all
    u32 stride;       // floats per encoded row; L * F when packed
    u32 column;       // first column of a row holding the encoding
    u32 pad0;
    u32 pad1;
};

// ---------------------------------------------------------------------------
// Fully fused MLP (Shaders/fields/mlp_*.comp; tiny-cuda-nn's FullyFusedMLP,
// Mueller et al. 2021): ReLU (or, with MLP_FLAG_SOFTPLUS, softplus) between
// layers, no output activation; biases only with MLP_FLAG_BIASES (NeuS's
// SDF network), none in tiny-cuda-nn's layout. Layer l maps dims[l] inputs
// to dims[l + 1] outputs with weights [dims[l + 1], dims[l]] f32 row-major at
// weight offset offsets[l]; with biases, its dims[l + 1] biases follow all
// weights at biasOffset + l width (every layer but the last is width wide).
// Buffers: input [N, dims[0]] f32, parameters [totalWeights] f32 (weights,
//          then biases), output [N, dims[L]] f32, hidden [L - 1, N, width]
//          f32 (the activations' outputs, kept for the backward pass),
//          deltas [L, N, width] f32 (d loss / d pre-activation of each
//          layer), gradients like the parameters.
#define MLP_MAX_LAYERS 8
#define SPEC_MLP_MAX_DIM 3        // widest layer (spec constant id; shared arrays)
#define SPEC_MLP_WEIGHT_FLOATS 4  // floats of weights staged in shared memory at once
#define MLP_FLAG_SAVE_HIDDEN 1u   // forward: write the hidden activations (training)
#define MLP_FLAG_INPUT_GRADIENT 2u // backward: also write d loss / d input
#define MLP_FLAG_BIASES 4u        // every layer adds its biases before the activation
#define MLP_FLAG_SOFTPLUS 8u      // hidden activation softplus(beta z) / beta instead of ReLU
// 112 bytes: within the 128 bytes of push constants every device offers.
struct MLPParams {
    u32 count;        // points N
    u32 layers;       // L (weight matrices), 1 ... MLP_MAX_LAYERS
    u32 width;        // hidden width (row length of hidden and deltas); dims[L] <= width
    u32 flags;        // MLP_FLAG_*
    u32 slicePoints;  // weight gradient: points summed per thread before one atomic add
    u32 totalWeights; // floats of the parameter buffer (weights and, with MLP_FLAG_BIASES, biases)
    u32 biasOffset;   // MLP_FLAG_BIASES: the first bias (= offsets[L]); layer l's at biasOffset + l width
    f32 softplusBeta; // MLP_FLAG_SOFTPLUS: beta (NeuS: 100)
    u32 dims[MLP_MAX_LAYERS + 2];    // dims[0..L]
    u32 offsets[MLP_MAX_LAYERS + 2]; // weight offset of each layer, offsets[L] = the weights' total
};

// Spherical-harmonics direction encoding (Shaders/fields/sh_encode.comp):
// 16 values per direction written at `column` of rows `stride` floats wide,
// so they can land beside other network inputs.
struct SHEncodeParams {
    u32 count;    // directions N
    u32 stride;   // floats per output row
    u32 column;   // first output column
    u32 pad0;
};

// Volume rendering of compacted ray samples (Shaders/fields/volume_render*.comp;
// NeRF quadrature, Mildenhall et al. 2020, as instant-ngp composites it):
// sigma = exp(raw density), colour = sigmoid(raw rgb), alpha = 1 - exp(-sigma dt),
// C = sum T_i alpha_i c_i + T_end background, stopping once T < minTransmittance.
// Buffers: rays [R, 2] u32 (first sample, sample count), density [S, densityStride] f32
//          (raw log-density in column 0), rgb [S, 3] f32 (raw), dt [S] f32, t [S] f32,
//          background [R, 3] f32 (VOLUME_FLAG_RAY_BACKGROUND) else push constants,
//          out [R, 4] f32 (rgb, opacity), depth [R] f32;
//          backward: dOut [R, 3] f32, dDensity [S, densityStride] f32 (column 0 written),
//          dRGB [S, 3] f32.
#define VOLUME_FLAG_RAY_BACKGROUND 1u
#define VOLUME_FLAG_ALPHA 2u          // column 0 holds alpha itself (NeuS), dOut is [R, 4] (rgb, opacity)
struct VolumeRenderParams {
    u32 rayCount;         // R
    u32 densityStride;    // floats per density row (the density network's outputs)
    u32 flags;            // VOLUME_FLAG_*
    f32 minTransmittance; // 1e-4 (instant-ngp)
    f32 backgroundR;      // constant background when not per ray
    f32 backgroundG;
    f32 backgroundB;
    u32 pad0;
};

// Occupancy grid and ray marching (Shaders/fields/occupancy_*.comp,
// ray_march.comp; instant-ngp, Mueller et al. 2022, Sec. 5.1 and App. E).
// Unit space: cascade 0 is [0, 1]^3; cascade k covers [0.5 - 2^(k-1), 0.5 + 2^(k-1)]^3
// with gridSize^3 cells (index x + g (y + g z) + k g^3). The network's input
// ("field space") maps the outermost cascade to [0, 1]^3.
// Buffers: density [K g^3] f32 (optical thickness sigma dtMin, EMA), scratch
//          [K g^3] u32 (max of new samples as float bits), bitfield [K g^3 / 32] u32,
//          cells [n] u32 and points [n, 3] f32 (update samples),
//          rays [R, 6] f32 (origin, unit direction; unit space),
//          ray counts [R] u32, ray ranges [R, 2] u32 (first, count),
//          samples: points [S, 3] f32 (field space), directions [S, 3] f32, dt [S] f32, t [S] f32.
#define OCC_FLAG_WRITE 1u   // ray_march: write samples (else count them)
#define OCC_FLAG_RAY_NEAR 2u // ray_march: per-ray start t (binding 8), stop t written back
struct OccupancyParams {
    u32 cascades;     // K
    u32 gridSize;     // g (cells per axis); K g^3 must be a multiple of 32
    u32 count;        // cells, points or rays of this dispatch
    u32 maxSamples;   // per ray (1024)
    f32 decay;        // EMA decay (0.95)
    f32 threshold;    // occupied when density > threshold
    f32 dtMin;        // sqrt(3) / 1024
    f32 dtMax;        // sqrt(3) 2^(K-1) / g
    f32 coneAngle;    // 1/256 when aabb_scale > 1, else 0
    f32 near;         // first t along a ray
    u32 seed;         // random cells and jitter of this update
    u32 flags;        // OCC_FLAG_*
    u32 densityStride; // floats per density-network output row (update)
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

// NeRF training batch (Shaders/fields/nerf_*.comp). Rays are drawn from the
// training images and expressed in unit space: unit = (world - boxCenter) /
// boxSize + 0.5, where the box is cascade 0 of the occupancy grid.
// Buffers: cameras [V] NerfCamera, pixels [sum of W H] u32 (RGBA8),
//          rays [R, 6] f32 (unit-space origin, unit direction), targets [R, 4] f32
//          (rgb, alpha), background [R, 3] f32, loss [R] f32, dC [R, 3] f32.
struct NerfCamera {
    f32 fx, fy, cx, cy;
    u32 width, height, pixelOffset, pad0;
    f32 r00, r01, r02, px;   // camera-to-world rotation rows (OpenCV axes) and centre,
    f32 r10, r11, r12, py;   // both already in unit space (the rotation is a rotation:
    f32 r20, r21, r22, pz;   // directions are normalised after the box's uniform scaling)
};
#define NERF_FLAG_RANDOM_BACKGROUND 1u // alpha images: a random background per ray
#define NERF_FLAG_HUBER 2u             // Huber loss (delta 0.1) instead of L2
#define NERF_FLAG_OPACITY 4u           // loss: dC is [R, 4] (rgb, opacity), plus maskWeight BCE(opacity, alpha)
struct NerfBatchParams {
    u32 rays;         // R
    u32 cameras;      // V
    u32 seed;
    u32 flags;        // NERF_FLAG_*
    f32 backgroundR;  // constant background (no alpha or not random)
    f32 backgroundG;
    f32 backgroundB;
    u32 columns;      // concat: colour-network input width
    f32 maskWeight;   // loss with NERF_FLAG_OPACITY: weight of the mask's BCE (NeuS: 0.1)
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

// ---------------------------------------------------------------------------
// Signed-distance fields (Shaders/fields/sdf_*.comp; NeuS, Wang et al. 2021;
// NeuS2, Wang et al. 2023). The SDF network's input row is [position (3),
// hash encoding]: position p = u - 0.5 for a field-space point u (the box's
// centre at 0, so the geometric initialisation's sphere sits there). Each
// sample is evaluated at a stencil of 5 points, stored centres first: rows
// 0..S-1 the samples, then rows S + 4 i + k at u_i + h v_k with the
// tetrahedron's vertices v_k = (1,-1,-1), (-1,-1,1), (-1,1,-1), (1,1,1):
// grad f(u_i) ~ sum_k v_k f(u_i + h v_k) / (4 h), since sum_k v_k v_k^T = 4 I.
// The colour network's input row is [SH(direction) (16), position (3),
// SDF gradient (3), SDF network outputs (16)] (NeuS2: position, normal,
// direction, features; the outputs last, as nerf_concat copies them).
// Buffers: samples [S, 3] f32 (field space), stencil points [5S, 3] f32,
//          SDF input [5S, inputStride] f32 (columns 0..2 written), outputs
//          [5S, 16] f32 (column 0 the SDF), directions [S, 3] f32, dt [S] f32,
//          alpha [S] f32, colour input [S, colourStride] f32, variance [1] f32
//          (inv_s = exp(10 variance)), eikonal [S] f32, d variance [S] f32.
#define SDF_FLAG_CENTER_ONLY 1u  // sdf_points: the samples alone (occupancy, meshes), no stencil
#define SDF_FLAG_TRAINING 2u     // sdf_volume_weight: also the eikonal loss per sample
struct SDFParams {
    u32 count;          // samples S
    u32 inputStride;    // floats per SDF-network input row
    u32 colourStride;   // floats per colour-network input row
    u32 flags;          // SDF_FLAG_*
    f32 step;           // finite-difference step h (field space)
    f32 eikonalWeight;  // lambda / (samples of the batch): the eikonal loss is a mean
    f32 cosAnneal;      // NeuS's cos_anneal_ratio (1: the plain estimate)
    u32 pad0;
};

// ---------------------------------------------------------------------------
// Language features (Shaders/language/*.comp; LangSplatV2, Li et al. 2025).
// Each Gaussian holds, per level, L logits over the level's codebook; the
// top-K softmax weights (renormalised over the K) become K sparse payload
// pairs (channel = level * L + entry, as u32 bits; weight), so one sparse
// blend splats every level into a [H, W, levels * L] weight map. A pixel's
// feature is f = codebook^T w, normalised; training and queries use only
// w . (codebook q) and |f|^2 = w^T G w with G = codebook codebook^T.
// Buffers: logits [N, levels, L] f32; payload [N, levels * K, 2];
//          codebook [levels, L, D] f32; Gram [levels, L, L] f32;
//          weight map [P, mapStride] f32 (the blend's colour output, alpha last);
//          segments [levels, P] i32 (row of the image's features, -1 none).
#define LANGUAGE_MAX_TOP_K 8u
#define LANGUAGE_MAX_CODEBOOK 64u  // entries per level (per-thread arrays; LangSplatV2 uses 64)
#define LANGUAGE_MAX_CANONICAL 16u
#define LANGUAGE_VARIANT_SEGMENT_SUMS 0u   // language_codebook_sums: A [levels, M, L]
#define LANGUAGE_VARIANT_OUTER_SUMS 1u     // language_codebook_sums: B [levels, L, L]
#define LANGUAGE_VARIANT_RELEVANCY 0u      // language_similarity: LERF relevancy [levels, Q, P]
#define LANGUAGE_VARIANT_SIMILARITY 1u     // language_similarity: cosines [levels, R, P]
struct LanguageParams {
    u32 count;          // Gaussians N (weights) or pixels P (per-pixel kernels)
    u32 levels;
    u32 codebookSize;   // L
    u32 topK;           // K
    u32 dimension;      // D
    u32 rows;           // products: rows R of A; sums/gradient: feature rows M; similarity: queries Q (or directions R)
    u32 rowLevelStride; // products: rows of A between levels (0: the same rows for every level)
    u32 mapStride;      // floats per pixel of the weight map (levels * L + 1)
    u32 canonical;      // similarity: canonical phrases after the Q queries
    f32 temperature;    // similarity: LERF's softmax temperature (10)
    f32 invValid0;      // loss: 1 / (pixels with a feature) of level 0, 1, 2 (0: none)
    f32 invValid1;
    f32 invValid2;
    u32 pad0;
    u32 pad1;
    u32 pad2;
};

#endif
