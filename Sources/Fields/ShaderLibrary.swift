import Compute

/// The SPIR-V of Shaders/fields/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
