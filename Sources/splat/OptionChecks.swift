import ArgumentParser
import Foundation

/// Range checks for numbers given on the command line. Every check names the
/// option, what it accepts and what it got, and runs in `validate()`, so bad
/// input is one line and exit 1 before any file is read or device opened.
/// `Double("nan")` and `Double("inf")` parse, so every real number is also
/// checked to be finite.
enum OptionCheck {
    /// A whole number within `range` (when given).
    static func whole(_ name: String, _ value: Int?, _ range: ClosedRange<Int>) throws {
        guard let value, !range.contains(value) else { return }
        throw ValidationError("\(name) must be a whole number within \(range.lowerBound)...\(range.upperBound), got \(value)")
    }

    /// A finite number within `range` (when given); `aboveLowerBound` excludes the lower bound itself.
    static func number(_ name: String, _ value: Double?, _ range: ClosedRange<Double>, aboveLowerBound: Bool = false) throws {
        guard let value else { return }
        if value.isFinite, range.contains(value), !(aboveLowerBound && value == range.lowerBound) { return }
        let lower = aboveLowerBound ? "above \(format(range.lowerBound))" : "from \(format(range.lowerBound))"
        throw ValidationError("\(name) must be a finite number \(lower) up to \(format(range.upperBound)), got \(format(value))")
    }

    /// A finite number above zero and at most `limit`.
    static func positive(_ name: String, _ value: Double?, upTo limit: Double = 1e9) throws {
        try number(name, value, 0...limit, aboveLowerBound: true)
    }

    /// A power of two within `range` (when given).
    static func powerOfTwo(_ name: String, _ value: Int?, _ range: ClosedRange<Int>) throws {
        guard let value else { return }
        guard range.contains(value), value > 0, value & (value - 1) == 0 else {
            throw ValidationError("\(name) must be a power of two within \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }

    /// One of `choices` (when given).
    static func choice(_ name: String, _ value: String?, _ choices: [String]) throws {
        guard let value, !choices.contains(value) else { return }
        throw ValidationError("\(name) must be \(choices.dropLast().joined(separator: ", ")) or \(choices.last ?? ""), got '\(value)'")
    }

    static func format(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
    }

    /// ArgumentParser reads "-5" after an option as another option and says
    /// "Missing value for '--seed <seed>'". No splat option looks like a
    /// negative number, so such a value is joined to the option before it
    /// ("--seed=-5"), and that option's own check then names the problem.
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var joined: [String] = []
        for argument in arguments {
            if let previous = joined.last, previous.count > 2, previous.hasPrefix("--"), !previous.contains("="),
               argument.count > 1, argument.hasPrefix("-"), Double(argument) != nil {
                joined[joined.count - 1] = previous + "=" + argument
            } else {
                joined.append(argument)
            }
        }
        return joined
    }
}

/// Host memory that one input may ask for: sizes computed from command-line
/// counts are checked against it before anything is allocated, so a count
/// of 10^12 is a message, not an allocation failure.
enum HostMemory {
    /// Half the machine's physical memory.
    static var budget: Int { Int(min(ProcessInfo.processInfo.physicalMemory / 2, UInt64(Int.max))) }

    /// `count` items of `bytesPerItem` bytes, or an error naming `option` when the product overflows or exceeds the budget.
    static func check(_ option: String, count: Int, bytesPerItem: Int) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: bytesPerItem)
        guard overflow || bytes > budget else { return }
        let need = overflow ? "more than \(Int.max >> 30) GiB" : "\(bytes >> 20) MiB"
        throw ValidationError("\(option) \(count) needs \(need) of memory; this machine allows \(budget >> 20) MiB (half its memory)")
    }
}
