import Foundation

/// The folder a command writes into (`train --out`, `render --out`, the
/// folder of `mesh --out`): created and probed before any work, so a bad
/// path is one message naming it and the reason, never a Foundation error
/// code after minutes of training.
public enum OutputFolder {
    /// Creates `folder` (and its parents), checks that a file can be written
    /// there, and removes the temporary files a killed run left in it.
    public static func prepare(_ folder: String) throws {
        let path = folder.isEmpty ? "." : folder
        // The nearest existing ancestor must be a folder: "out/model" under a file "out" is named as such.
        var ancestor = (path as NSString).standardizingPath
        while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        var isFolder: ObjCBool = false
        if !ancestor.isEmpty, FileManager.default.fileExists(atPath: ancestor, isDirectory: &isFolder), !isFolder.boolValue {
            throw DatasetError(folder, ancestor == (path as NSString).standardizingPath
                               ? "the output folder is a file"
                               : "cannot create the output folder: \(ancestor) is a file, not a folder")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(folder, "cannot create the output folder: \(describe(error))")
        }
        let probe = (path as NSString).appendingPathComponent(".splat-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw DatasetError(folder, "the output folder is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
        // Half-written files of a run that was killed here (its process is gone) go now, not at the first write.
        AtomicFile.removeStaleOnce(in: path)
    }

    /// The POSIX reason behind a Foundation file error ("Permission denied"),
    /// instead of "The operation could not be completed (NSCocoaErrorDomain error 512)".
    public static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}
