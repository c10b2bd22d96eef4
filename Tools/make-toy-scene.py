#!/usr/bin/env python3
"""Writes Scenes/toy: the demo scene of the README, rendered by splat itself.

A colourful synthetic object made of known Gaussians (a rainbow torus around
a chequered ball, three cubes with differently coloured faces), as flat
surface Gaussians with SH degree 0, written as a 3DGS PLY (toy.ply, kept in
the scene so anyone can compare a trained model with the truth). Then
`splat render toy.ply --cameras ... --alpha` renders it from cameras spread
over a sphere around it (NeRF-synthetic layout: transforms_train.json /
transforms_test.json, camera_angle_x, OpenGL-axes camera-to-world matrices,
RGBA PNGs with a transparent background). Deterministic (fixed seeds).

usage: python3 Tools/make-toy-scene.py [--out DIR] [--size PX] [--train N]
                                       [--test N] [--splat PATH]
defaults: Scenes/toy, 160 px, 100 training and 20 test views (NeRF-synthetic's
100 training views; with 40, a NeRF's held-out views trail its training views
by 2-6 dB); the splat binary is .build/release/splat, .build/debug/splat or
`splat` on PATH.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The PNG writer and look-at helper of the small test scene's script.
_spec = importlib.util.spec_from_file_location("make_demo_scene", os.path.join(HERE, "make-demo-scene.py"))
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

SH_C0 = 0.28209479177387814
FOV_X = demo.FOV_X


def hsv(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def quaternion_from_normal(n):
    """(w, x, y, z) rotating +z onto the unit vector n."""
    z = (0.0, 0.0, 1.0)
    d = n[2]
    if d < -0.999999:
        return (0.0, 1.0, 0.0, 0.0)
    axis = demo.cross(z, n)
    w = 1.0 + d
    q = (w, axis[0], axis[1], axis[2])
    length = math.sqrt(sum(c * c for c in q))
    return tuple(c / length for c in q)


def toy_gaussians(rng):
    """(position, normal, tangent size, colour) of surface samples."""
    out = []
    # Chequered ball, radius 0.45, at the origin.
    for _ in range(6000):
        u, v = rng.random(), rng.random()
        theta, phi = 2 * math.pi * u, math.acos(2 * v - 1)
        n = (math.sin(phi) * math.cos(theta), math.sin(phi) * math.sin(theta), math.cos(phi))
        check = (int(theta / (math.pi / 4)) + int(phi / (math.pi / 4))) % 2
        colour = (0.95, 0.85, 0.15) if check else (0.15, 0.25, 0.8)
        out.append((tuple(0.45 * c for c in n), n, 0.018, colour))
    # Rainbow torus around it: major radius 0.8, minor 0.12, tilted 20 degrees.
    tilt = math.radians(20)
    for _ in range(7000):
        a, b = 2 * math.pi * rng.random(), 2 * math.pi * rng.random()
        p = ((0.8 + 0.12 * math.cos(b)) * math.cos(a), (0.8 + 0.12 * math.cos(b)) * math.sin(a), 0.12 * math.sin(b))
        n = (math.cos(b) * math.cos(a), math.cos(b) * math.sin(a), math.sin(b))
        rot = lambda v: (v[0], v[1] * math.cos(tilt) - v[2] * math.sin(tilt), v[1] * math.sin(tilt) + v[2] * math.cos(tilt))
        out.append((rot(p), rot(n), 0.014, hsv(a / (2 * math.pi), 0.85, 0.95)))
    # Three cubes (half-size 0.16) with a colour per face.
    faces = [((1, 0, 0), (0.9, 0.2, 0.2)), ((-1, 0, 0), (0.2, 0.8, 0.3)), ((0, 1, 0), (0.2, 0.4, 0.95)),
             ((0, -1, 0), (0.95, 0.6, 0.1)), ((0, 0, 1), (0.95, 0.95, 0.95)), ((0, 0, -1), (0.6, 0.2, 0.7))]
    for centre in ((0.0, 0.0, 0.75), (0.55, -0.55, -0.45), (-0.6, 0.45, -0.4)):
        for _ in range(1500):
            normal, colour = faces[rng.randrange(6)]
            s, t = rng.uniform(-1, 1), rng.uniform(-1, 1)
            axis = [k for k in range(3) if normal[k] != 0][0]
            others = [k for k in range(3) if k != axis]
            local = [0.0, 0.0, 0.0]
            local[axis] = float(normal[axis])
            local[others[0]], local[others[1]] = s, t
            p = tuple(centre[k] + 0.16 * local[k] for k in range(3))
            out.append((p, tuple(float(c) for c in normal), 0.014, colour))
    return out


def write_ply(path, samples):
    """The 3DGS PLY layout with SH degree 0 (no f_rest)."""
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    header = "ply\nformat binary_little_endian 1.0\nelement vertex %d\n" % len(samples)
    header += "".join("property float %s\n" % n for n in names) + "end_header\n"
    with open(path, "wb") as f:
        f.write(header.encode())
        for p, n, size, colour in samples:
            q = quaternion_from_normal(n)
            dc = [(c - 0.5) / SH_C0 for c in colour]
            opacity = math.log(0.97 / 0.03)
            scales = [math.log(size), math.log(size), math.log(size * 0.15)]
            f.write(struct.pack("<17f", *p, 0, 0, 0, *dc, opacity, *scales, *q))


def sphere_cameras(count, rng, radius=3.2):
    """Camera-to-world matrices on a sphere around the origin (elevation -30..70 degrees)."""
    out = []
    golden = math.pi * (3 - math.sqrt(5))
    for k in range(count):
        z = math.sin(math.radians(-30 + 100 * (k + 0.5) / count))
        azimuth = golden * k + rng.uniform(-0.2, 0.2)
        r = math.sqrt(1 - z * z)
        eye = (radius * r * math.cos(azimuth), radius * r * math.sin(azimuth), radius * z)
        out.append(demo.look_at(eye, (0.0, 0.0, 0.0)))
    return out


def find_splat(given):
    if given:
        return given
    for candidate in (".build/release/splat", ".build/debug/splat"):
        path = os.path.join(ROOT, candidate)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("splat")
    if not found:
        sys.exit("make-toy-scene: no splat binary (swift build first, or pass --splat)")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Scenes", "toy"))
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--splat")
    args = parser.parse_args()
    splat = find_splat(args.splat)
    rng = random.Random(7)
    out = os.path.abspath(args.out)
    work = tempfile.mkdtemp(prefix="splat-toy-")
    try:
        os.makedirs(out, exist_ok=True)
        write_ply(os.path.join(out, "toy.ply"), toy_gaussians(rng))
        blank = [bytes(4 * args.size)] * args.size
        demo.SIZE = args.size  # the PNG writer's size
        cameras = sphere_cameras(args.train + args.test, random.Random(11))
        # Every 6th camera (and the rest after the training ones) is a test view, spread over the sphere.
        test_ids = set(range(0, len(cameras), max(1, len(cameras) // max(1, args.test)))[: args.test])
        splits = {"train": [c for k, c in enumerate(cameras) if k not in test_ids],
                  "test": [c for k, c in enumerate(cameras) if k in test_ids]}
        for split, mats in splits.items():
            folder = os.path.join(work, split)
            os.makedirs(folder)
            frames = []
            for k, c2w in enumerate(mats):
                name = "r_%d" % k
                demo.write_png(os.path.join(folder, name + ".png"), blank)  # placeholder: splat reads the size
                frames.append({"file_path": "./%s/%s" % (split, name), "transform_matrix": c2w})
            with open(os.path.join(work, "transforms_%s.json" % split), "w") as f:
                json.dump({"camera_angle_x": FOV_X, "w": args.size, "h": args.size, "frames": frames}, f, indent=2)
        renders = os.path.join(work, "renders")
        subprocess.run([splat, "render", os.path.join(out, "toy.ply"), "--cameras", work, "--split", "all",
                        "--alpha", "--out", renders], check=True)
        with open(os.path.join(renders, "cameras.json")) as f:
            rendered = json.load(f)
        for k, camera in enumerate(rendered):
            name = camera["img_name"] if "img_name" in camera else camera["name"]
            split = camera.get("split", "train")
            target = os.path.join(out, split)
            os.makedirs(target, exist_ok=True)
            shutil.copyfile(os.path.join(renders, "%05d.png" % k), os.path.join(target, os.path.splitext(os.path.basename(name))[0] + ".png"))
        for split in splits:
            shutil.copyfile(os.path.join(work, "transforms_%s.json" % split), os.path.join(out, "transforms_%s.json" % split))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("wrote", os.path.relpath(out))


if __name__ == "__main__":
    main()
