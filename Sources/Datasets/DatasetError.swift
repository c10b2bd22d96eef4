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
///
/// A process killed mid-write (SIGKILL, power loss) leaves its temporary
/// `.NAME.PID.RANDOM.tmp` behind (a Gaussian checkpoint's is tens of MB);
/// `removeStale(in:)` deletes those of processes no longer alive, and the
/// first write into a folder in a process runs it there.
public enum AtomicFile {
    /// Writes `data` to `path` through a temporary file in the same folder.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        removeStaleOnce(in: folder.path)
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

    /// The process id in a temporary name this type writes
    /// (`.NAME.PID.RANDOM.tmp`), or nil when `name` is not one.
    public static func temporaryOwner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return nil }
        let parts = name.dropFirst().dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        // NAME may itself hold dots; PID and RANDOM are the last two parts.
        guard parts.count >= 3, !parts.dropLast(2).joined(separator: ".").isEmpty else { return nil }
        let pid = parts[parts.count - 2], random = parts[parts.count - 1]
        let digits = { (text: Substring) in !text.isEmpty && text.allSatisfy { ("0"..."9").contains($0) } }
        guard digits(pid), digits(random), UInt32(random) != nil, let owner = pid_t(pid), owner > 0 else { return nil }
        return owner
    }

    /// Deletes the temporary files of atomic writes in `folder` whose writing
    /// process is gone (`kill(pid, 0)` answers ESRCH); returns their paths.
    /// Files of live processes (another run writing into the same folder)
    /// and of processes this one may not signal are kept, and so are files
    /// whose name merely resembles the pattern in a different shape. A
    /// missing or unreadable folder removes nothing.
    @discardableResult
    public static func removeStale(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names {
            guard let owner = temporaryOwner(name), owner != getpid() else { continue }
            guard kill(owner, 0) != 0, errno == ESRCH else { continue }
            let path = (folder as NSString).appendingPathComponent(name)
            // Only plain files: a folder or link of that name is not ours.
            guard let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType,
                  type == .typeRegular else { continue }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    private static let cleanedLock = NSLock()
    nonisolated(unsafe) private static var cleaned: Set<String> = []

    /// `removeStale(in:)` the first time this process prepares or writes into
    /// `folder` (listing the folder on every write would cost a render of many
    /// frames dearly); the same folder by any spelling is listed once.
    static func removeStaleOnce(in folder: String) {
        let key = URL(fileURLWithPath: folder).standardizedFileURL.path
        cleanedLock.lock()
        let first = cleaned.insert(key).inserted
        cleanedLock.unlock()
        if first { removeStale(in: key) }
    }
}
