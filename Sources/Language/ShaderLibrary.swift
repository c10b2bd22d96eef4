import Compute

/// The SPIR-V of Shaders/language/, embedded at build time by ShaderCompilerPlugin.
enum ShaderLibrary {}
