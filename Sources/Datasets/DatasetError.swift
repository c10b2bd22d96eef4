import Foundation

/// Bad input: one message that names the file and what is wrong with it.
/// The CLI prints it and exits with status 1 (a user error).
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

/// Where warnings go (stderr by default). Tests swap in a collector to check
/// that a warning was given once.
public enum Diagnostics {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sink: (String) -> Void = { message in
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    public static func warn(_ message: String) {
        lock.lock(); let s = sink; lock.unlock()
        s(message)
    }

    /// Runs `body` collecting warnings instead of printing them.
    public static func collecting<R>(_ body: () throws -> R) rethrows -> (R, [String]) {
        var collected: [String] = []
        let collectedLock = NSLock()
        lock.lock(); let previous = sink
        sink = { m in collectedLock.lock(); collected.append(m); collectedLock.unlock() }
        lock.unlock()
        defer { lock.lock(); sink = previous; lock.unlock() }
        let result = try body()
        return (result, collected)
    }
}

/// Writes files atomically: to a temporary name in the same folder, then
/// renamed, so a crash or error never leaves a half-written file that looks valid.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(folder.path, "cannot create folder: \(error.localizedDescription)")
        }
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw DatasetError(path, "cannot write: \(error.localizedDescription)")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw DatasetError(path, "cannot write: \(reason)")
        }
    }
}
