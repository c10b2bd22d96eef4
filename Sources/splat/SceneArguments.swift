import ArgumentParser

/// `--downscale K`, shared by every command that reads a scene's images
/// (train, eval, render --cameras, view --scene/--camera, bench train, bench
/// load): one declaration, one check, one default.
struct ImageScaleOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Downscale the scene's images by this integer factor (area filter; default 1, for eval the factor the model was trained at).")
    var downscale: Int?

    func validate() throws {
        try OptionCheck.whole("--downscale", downscale, 1...1024)
    }

    /// The factor to use: the one given, else `fallback`.
    func factor(or fallback: Int = 1) -> Int { downscale ?? fallback }
}
