import Compute

/// The SPIR-V of Shaders/primitives/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
