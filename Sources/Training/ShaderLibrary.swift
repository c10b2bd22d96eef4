import Compute

/// The SPIR-V of Shaders/training/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
