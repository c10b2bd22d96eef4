import Compute

/// The SPIR-V of Shaders/viewer/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
