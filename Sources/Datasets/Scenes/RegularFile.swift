import Foundation

/// Opening input files safely: only regular files are read. A FIFO would
/// block the reader forever, a device could be endless, and a folder is not
/// data, so each is refused with a `DatasetError` before any read.
public enum RegularFile {
    /// Throws unless `path` names a regular file (symbolic links followed).
    public static func check(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DatasetError(path, errno == ENOENT ? "no such file" : "cannot read: \(String(cString: strerror(errno)))")
        }
        try checkMode(info.st_mode, path: path)
    }

    /// The whole file, refused when it is not a regular file or holds more
    /// than `limit` bytes.
    public static func read(_ path: String, limit: Int = Int.max) throws -> Data {
        let descriptor = try open(path)
        defer { close(descriptor) }
        var info = stat()
        var data = Data()
        if fstat(descriptor, &info) == 0, info.st_size > 0 {
            guard info.st_size <= limit else {
                throw DatasetError(path, "file of \(info.st_size) bytes is larger than the \(limit) bytes allowed")
            }
            data.reserveCapacity(Int(info.st_size))
        }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, chunk) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw DatasetError(path, "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            guard data.count <= limit - count else {
                throw DatasetError(path, "file is larger than the \(limit) bytes allowed")
            }
            data.append(contentsOf: buffer[0 ..< count])
        }
        return data
    }

    /// The whole file memory-mapped (large models are not copied), refused
    /// unless it is a regular file; `kind` names what the file should be
    /// ("model", "mesh") when the path is a folder.
    public static func mapped(_ path: String, kind: String) throws -> Data {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw DatasetError(path, "is a folder, not a \(kind) file")
        }
        try check(path)  // a FIFO or device would block or never end the read below
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DatasetError(path, "cannot read: \(error.localizedDescription)")
        }
    }

    /// A read-only descriptor of the regular file at `path`; the caller closes it.
    ///
    /// The file is opened non-blocking, so that opening a FIFO returns at
    /// once, and its type is checked on the open descriptor (no window for the
    /// path to change between the check and the read).
    static func open(_ path: String) throws -> Int32 {
        let descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw DatasetError(path, errno == ENOENT ? "no such file" : "cannot read: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw DatasetError(path, "cannot read: \(reason)")
        }
        do { try checkMode(info.st_mode, path: path) } catch {
            close(descriptor)
            throw error
        }
        // Regular files never block; clearing the flag keeps reads ordinary.
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
        return descriptor
    }

    static func checkMode(_ mode: mode_t, path: String) throws {
        let type = mode & S_IFMT
        guard type != S_IFREG else { return }
        let what: String
        switch type {
        case S_IFDIR: what = "a folder"
        case S_IFIFO: what = "a named pipe (FIFO)"
        case S_IFCHR, S_IFBLK: what = "a device"
        case S_IFSOCK: what = "a socket"
        default: what = "a special file"
        }
        throw DatasetError(path, "not a regular file: it is \(what)")
    }
}
