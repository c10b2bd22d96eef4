#!/usr/bin/env python3
"""Checks splat's .spz reader and writer on a 3DGS .ply.

    Tools/check-spz.py MODEL.ply [--splat PATH-TO-splat]

Always: PLY -> SPZ -> PLY through `splat convert`, printing the largest
error per attribute and the size of the .spz against the .ply.

With the PyPI `spz` package (Niantic's reference, `pip install spz`)
importable, also a cross-check both ways: the reference reads splat's .spz,
and splat reads the reference's .spz, each compared with the original PLY.
Without it, that part prints a skip message. Exits 1 when an error is over
the format's quantisation bounds.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

# Largest errors the quantisation allows (plus float slack).
BOUNDS = {
    "positions": 0.5 / 4096 + 1e-5,      # 12 fractional bits (fewer for models beyond +-2048)
    "scales": 1 / 32 + 1e-5,             # (log s + 10) * 16 in a byte
    "f_dc": 0.5 / (0.15 * 255) + 1e-5,   # 0.15 * 255 per unit
    "opacity (sigmoid)": 0.5 / 255 + 1e-5,
    "rotation (1 - |cos|)": 1e-4,
    "f_rest": 8.5 / 128 + 1e-5,          # 4 bits (degree 1: 5) of 1/128 steps
}


def read_ply(path):
    """The float vertex properties of a binary little-endian 3DGS .ply, by name."""
    with open(path, "rb") as f:
        names, count = [], 0
        if f.readline().strip() != b"ply":
            raise SystemExit(f"{path}: not a .ply")
        while True:
            line = f.readline().strip().decode()
            if line == "end_header":
                break
            parts = line.split()
            if parts[:2] == ["element", "vertex"]:
                count = int(parts[2])
            elif parts[:1] == ["property"]:
                if parts[1] not in ("float", "float32"):
                    raise SystemExit(f"{path}: property {parts[-1]} is {parts[1]}; expected float")
                names.append(parts[2])
            elif parts[:1] == ["format"] and parts[1] != "binary_little_endian":
                raise SystemExit(f"{path}: {parts[1]} .ply; expected binary_little_endian")
        data = np.frombuffer(f.read(count * 4 * len(names)), dtype="<f4").reshape(count, len(names))
    return {n: data[:, i] for i, n in enumerate(names)}


def columns(ply, prefix, n):
    return np.stack([ply[f"{prefix}{i}"] for i in range(n)], axis=1) if n else np.zeros((len(ply["x"]), 0))


def model(ply):
    rest = sorted((k for k in ply if k.startswith("f_rest_")), key=lambda k: int(k[7:]))
    return {
        "positions": np.stack([ply["x"], ply["y"], ply["z"]], axis=1),
        "scales": columns(ply, "scale_", 3),
        "f_dc": columns(ply, "f_dc_", 3),
        "opacity": ply["opacity"],
        "rot": columns(ply, "rot_", 4),  # w, x, y, z
        "f_rest": columns(ply, "f_rest_", len(rest)),
    }


def errors(a, b):
    def sig(x):
        return 1 / (1 + np.exp(-x.astype(np.float64)))

    qa = a["rot"] / np.linalg.norm(a["rot"], axis=1, keepdims=True)
    qb = b["rot"] / np.linalg.norm(b["rot"], axis=1, keepdims=True)
    out = {
        "positions": np.abs(a["positions"] - b["positions"]).max(initial=0),
        "scales": np.abs(a["scales"] - b["scales"]).max(initial=0),
        "f_dc": np.abs(a["f_dc"] - b["f_dc"]).max(initial=0),
        "opacity (sigmoid)": np.abs(sig(a["opacity"]) - sig(b["opacity"])).max(initial=0),
        "rotation (1 - |cos|)": (1 - np.abs((qa * qb).sum(axis=1))).max(initial=0),
    }
    if a["f_rest"].shape == b["f_rest"].shape and a["f_rest"].size:
        out["f_rest"] = np.abs(np.clip(a["f_rest"], -1, 1) - b["f_rest"]).max()
    return out


def report(title, errs):
    print(title)
    ok = True
    for k, v in errs.items():
        bad = v > BOUNDS[k]
        ok &= not bad
        print(f"  {k:22s} {v:.3g}  (bound {BOUNDS[k]:.3g}){'  OVER' if bad else ''}")
    return ok


def cloud_model(cloud):
    """A GaussianCloud (RDF, rotations x, y, z, w, SH channel innermost) as `model`."""
    n = cloud.numPoints
    sh = np.asarray(cloud.sh, dtype=np.float32).reshape(n, -1, 3)  # [N, K-1, 3]
    rot = np.asarray(cloud.rotations, dtype=np.float32).reshape(n, 4)
    return {
        "positions": np.asarray(cloud.positions, dtype=np.float32).reshape(n, 3),
        "scales": np.asarray(cloud.scales, dtype=np.float32).reshape(n, 3),
        "f_dc": np.asarray(cloud.colors, dtype=np.float32).reshape(n, 3),
        "opacity": np.asarray(cloud.alphas, dtype=np.float32),
        "rot": rot[:, [3, 0, 1, 2]],
        "f_rest": sh.transpose(0, 2, 1).reshape(n, -1),  # channel-major, as the PLY
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ply")
    ap.add_argument("--splat", default=None, help="the splat executable (default: .build/debug/splat, then PATH)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    splat = args.splat or next((p for p in (os.path.join(root, ".build/debug/splat"), os.path.join(root, ".build/release/splat"))
                                if os.path.exists(p)), "splat")
    original = model(read_ply(args.ply))
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        spz_path, back = os.path.join(tmp, "a.spz"), os.path.join(tmp, "b.ply")
        subprocess.run([splat, "convert", args.ply, spz_path], check=True, capture_output=True)
        subprocess.run([splat, "convert", spz_path, back], check=True, capture_output=True)
        ply_size, spz_size = os.path.getsize(args.ply), os.path.getsize(spz_path)
        print(f"{args.ply}: {len(original['opacity'])} Gaussians, SH {original['f_rest'].shape[1] // 3 + 1} coefficients/channel")
        print(f"  .ply {ply_size} bytes, .spz {spz_size} bytes: {ply_size / spz_size:.2f}x smaller")
        ok &= report("splat: PLY -> SPZ -> PLY, largest errors", errors(original, model(read_ply(back))))

        try:
            import spz  # noqa: F401
        except ImportError:
            print("skip: the PyPI spz package is not installed (pip install spz); no cross-check with the reference")
            return 0 if ok else 1
        unpack = spz.UnpackOptions()
        unpack.to = spz.CoordinateSystem.RDF
        ok &= report("reference reads splat's .spz", errors(original, cloud_model(spz.loadSpz(spz_path, unpack))))
        pack = spz.PackOptions()
        pack.from_ = spz.CoordinateSystem.RDF
        ref_spz, ref_back = os.path.join(tmp, "ref.spz"), os.path.join(tmp, "ref.ply")
        unpack_ply = spz.UnpackOptions()
        unpack_ply.to = spz.CoordinateSystem.RDF
        if not spz.saveSpz(spz.loadSplatFromPly(args.ply, unpack_ply), pack, ref_spz):
            print("the reference failed to write an .spz")
            return 1
        subprocess.run([splat, "convert", ref_spz, ref_back], check=True, capture_output=True)
        ok &= report("splat reads the reference's .spz", errors(original, model(read_ply(ref_back))))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
