import Compute

/// The SPIR-V of Shaders/splatting/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
