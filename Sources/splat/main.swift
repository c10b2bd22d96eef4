import Compute
import ComputePrimitives
let d = try ComputeDevice.make()
print(d.info.displayName)
let s = try RadixSort(device: d)
let n = 100_000
var keys = (0..<n).map { _ in UInt64.random(in: 0..<(1 << 48)) }
let vals = (0..<n).map { UInt32($0) }
let r = try s.sort(keys: keys, values: vals, keyBits: 48)
let ref = RadixSort.reference(keys: keys, values: vals, keyBits: 48)
print(r.keys == ref.keys, r.values == ref.values)
let p = try PrefixSum(device: d)
let x = (0..<100000).map { _ in UInt32.random(in: 0..<100) }
print(try p.run(x) == PrefixSum.reference(x))
