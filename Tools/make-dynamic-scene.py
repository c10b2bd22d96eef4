#!/usr/bin/env python3
"""Writes Scenes/dynamic: a small synthetic dynamic scene, rendered by splat itself.

Four rigid objects made of known flat surface Gaussians (SH degree 0, opaque,
a colour per Gaussian that moves with it: a base colour times a fixed fake
shading 0.55 + 0.45 * max(0, n . L) in the object's own frame, L = (0.4, 0.3,
0.87) normalised) move and turn over the clip's time t in [0, 1]. World axes
are z up; all angles are in radians, and every object stays inside the box
[-1, 1]^3 (within 1.13 of the origin) at every t. Ground truth motion:

(a) red ball (0.9, 0.2, 0.15), radius 0.22, 520 Gaussians: its centre travels
    on an arc, counter-clockwise (seen from +z) half a turn around the z axis
    at radius 0.75 while rising and falling once like a thrown ball:
      a(t) = pi/4 + pi t,  centre = (0.75 cos a, 0.75 sin a, 0.1 + 0.4 sin(pi t));
    from (0.53, 0.53, 0.1) at t = 0 over (-0.53, 0.53, 0.5) at t = 0.5 to
    (-0.53, -0.53, 0.1) at t = 1. It translates only (no rotation).
(b) green bar (0.15, 0.7, 0.2), a box 1.0 x 0.14 x 0.14 (long along its own x)
    centred at the origin, 496 Gaussians; its +x end (the last 0.12 of it,
    end cap included) is yellow-green (0.75, 0.95, 0.25) so the turn has a
    direction. It spins about the z axis through its centre,
      yaw(t) = pi t  (counter-clockwise seen from +z, 180 degrees over the clip),
    its long axis along +x at t = 0, along +y at t = 0.5, along -x at t = 1.
(c) blue ball (0.2, 0.35, 0.95), radius 0.2, 440 Gaussians: bobs up and down
    twice, straight along z, at (0.55, -0.55):
      centre = (0.55, -0.55, -0.15 + 0.35 sin(4 pi t));
    highest (z = 0.2) at t = 0.125 and 0.625, lowest (z = -0.5) at 0.375 and
    0.875. It translates only.
(d) yellow cube (0.95, 0.8, 0.1), half-size 0.09, 294 Gaussians: orbits the
    z axis once, counter-clockwise, at radius 0.45 and height -0.6, turning
    with its orbit so the same face always points at the axis (like the Moon):
      b(t) = pi + 2 pi t,  centre = (0.45 cos b, 0.45 sin b, -0.6),
      rotation about its own vertical axis by b(t) (a face normal along +x
      at b = 0); at t = 0 it is at (-0.45, 0, -0.6).
The objects never touch each other.

Each frame (camera k, time t_k) is rendered by writing the objects posed at
t_k as a 3DGS PLY and running `splat render POSED.ply --cameras ONE_FRAME
--alpha` with a one-frame transforms json (one splat call per frame: no two
frames share a time). Layout as D-NeRF's synthetic scenes
(NeRF-synthetic plus a per-frame "time"): transforms_train.json /
transforms_test.json with camera_angle_x (NeRF-synthetic's), OpenGL-axes
camera-to-world matrices and "time", RGBA PNGs with a transparent background
in train/ and test/. Training frame k has time k / (N - 1); test frame k has
time (k + 0.5) / M. Cameras look at the origin from distance 3.6, at well
spread directions over the upper part of a sphere (elevation 10 to 70
degrees), paired with the frames in a shuffled order, so (as in D-NeRF)
every frame has a different camera and a different time. Everything is
written to a temporary folder and moved into place at the end. Deterministic
(fixed seeds).

usage: python3 Tools/make-dynamic-scene.py [--out DIR] [--size PX] [--train N]
                                          [--test N] [--splat PATH] [--jobs J]
defaults: Scenes/dynamic, 128 px, 100 training and 20 test frames, 1 splat
call at a time; the splat binary is .build/release/splat, .build/debug/splat
or `splat` on PATH.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The toy scene's script: its PLY writer and splat lookup (and through it the demo
# scene's PNG writer, look-at helper and field of view).
_spec = importlib.util.spec_from_file_location("make_toy_scene", os.path.join(HERE, "make-toy-scene.py"))
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)
demo = toy.demo

FOV_X = toy.FOV_X
LIGHT = demo.normalize((0.4, 0.3, 0.87))
CAMERA_RADIUS = 3.6
ELEVATION = (10.0, 70.0)  # degrees


def shade(colour, n):
    k = 0.55 + 0.45 * max(0.0, sum(a * b for a, b in zip(n, LIGHT)))
    return tuple(min(1.0, c * k) for c in colour)


def ball(count, radius, colour, size):
    """Evenly spread samples (a Fibonacci sphere) around the origin."""
    out = []
    golden = math.pi * (3 - math.sqrt(5))
    for k in range(count):
        z = 1 - 2 * (k + 0.5) / count
        r = math.sqrt(1 - z * z)
        n = (r * math.cos(golden * k), r * math.sin(golden * k), z)
        out.append((tuple(radius * c for c in n), n, size, shade(colour, n)))
    return out


def box(half, spacing, colour_at, size, rng):
    """Samples on a jittered grid over the faces of a box of half-sizes `half` centred at the origin."""
    out = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        steps = [max(1, int(round(2 * half[k] / spacing))) for k in others]
        for sign in (1.0, -1.0):
            n = [0.0, 0.0, 0.0]
            n[axis] = sign
            n = tuple(n)
            for i in range(steps[0]):
                for j in range(steps[1]):
                    p = [0.0, 0.0, 0.0]
                    p[axis] = sign * half[axis]
                    p[others[0]] = half[others[0]] * (2 * (i + 0.5 + rng.uniform(-0.2, 0.2)) / steps[0] - 1)
                    p[others[1]] = half[others[1]] * (2 * (j + 0.5 + rng.uniform(-0.2, 0.2)) / steps[1] - 1)
                    out.append((tuple(p), n, size, shade(colour_at(p), n)))
    return out


def objects(rng):
    """Each object's samples in its own frame (position, normal, tangent size, colour)."""
    bar_end = lambda p: (0.75, 0.95, 0.25) if p[0] > 0.5 - 0.12 else (0.15, 0.7, 0.2)
    return {
        "red ball": ball(520, 0.22, (0.9, 0.2, 0.15), 0.028),
        "green bar": box((0.5, 0.07, 0.07), 0.034, bar_end, 0.024, rng),
        "blue ball": ball(440, 0.2, (0.2, 0.35, 0.95), 0.028),
        "yellow cube": box((0.09, 0.09, 0.09), 0.026, lambda p: (0.95, 0.8, 0.1), 0.02, rng),
    }


def pose(name, t):
    """(yaw about the object's vertical axis, centre) of an object at time t: the ground truth motion."""
    if name == "red ball":
        a = math.pi / 4 + math.pi * t
        return 0.0, (0.75 * math.cos(a), 0.75 * math.sin(a), 0.1 + 0.4 * math.sin(math.pi * t))
    if name == "green bar":
        return math.pi * t, (0.0, 0.0, 0.0)
    if name == "blue ball":
        return 0.0, (0.55, -0.55, -0.15 + 0.35 * math.sin(4 * math.pi * t))
    if name == "yellow cube":
        b = math.pi + 2 * math.pi * t
        return b, (0.45 * math.cos(b), 0.45 * math.sin(b), -0.6)
    raise KeyError(name)


def posed(parts, t):
    out = []
    for name, samples in parts.items():
        yaw, centre = pose(name, t)
        c, s = math.cos(yaw), math.sin(yaw)
        rot = lambda v: (c * v[0] - s * v[1], s * v[0] + c * v[1], v[2])
        for p, n, size, colour in samples:
            q = rot(p)
            out.append((tuple(q[k] + centre[k] for k in range(3)), rot(n), size, colour))
    return out


def upper_cameras(count, rng):
    """Camera-to-world matrices looking at the origin from well spread directions
    (golden-angle azimuths, area-uniform elevation bands from ELEVATION[0] to
    ELEVATION[1], jittered), in a shuffled order."""
    lo, hi = (math.sin(math.radians(e)) for e in ELEVATION)
    golden = math.pi * (3 - math.sqrt(5))
    out = []
    for k in range(count):
        z = lo + (hi - lo) * (k + rng.uniform(0.1, 0.9)) / count
        azimuth = golden * k + rng.uniform(-0.3, 0.3)
        r = math.sqrt(1 - z * z)
        eye = (CAMERA_RADIUS * r * math.cos(azimuth), CAMERA_RADIUS * r * math.sin(azimuth), CAMERA_RADIUS * z)
        out.append(demo.look_at(eye, (0.0, 0.0, 0.0)))
    rng.shuffle(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Scenes", "dynamic"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--splat")
    parser.add_argument("--jobs", type=int, default=1, help="splat calls at a time (default 1)")
    args = parser.parse_args()
    if args.train < 2 or args.test < 1 or args.size < 8 or args.jobs < 1:
        sys.exit("make-dynamic-scene: needs --train >= 2, --test >= 1, --size >= 8, --jobs >= 1")
    splat = toy.find_splat(args.splat)
    out = os.path.abspath(args.out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # The scene is assembled next to its destination (same file system) and renamed into place.
    work = tempfile.mkdtemp(prefix=".splat-dynamic-", dir=parent)
    started = time.time()
    try:
        parts = objects(random.Random(7))
        demo.SIZE = args.size  # the PNG writer's size
        blank = [bytes(4 * args.size)] * args.size
        cameras = upper_cameras(args.train + args.test, random.Random(11))
        splits = {
            "train": [(k / (args.train - 1), c) for k, c in enumerate(cameras[: args.train])],
            "test": [((k + 0.5) / args.test, c) for k, c in enumerate(cameras[args.train:])],
        }
        scene = os.path.join(work, "scene")
        jobs = []  # (frame folder, ply, destination png)
        for split, frames in splits.items():
            os.makedirs(os.path.join(scene, split))
            entries = []
            for k, (t, c2w) in enumerate(frames):
                name = "r_%03d" % k
                entries.append({"file_path": "./%s/%s" % (split, name), "time": t, "transform_matrix": c2w})
                # One frame's own scene: a placeholder PNG (splat reads its size) and a one-frame transforms json.
                frame_dir = os.path.join(work, "frames", "%s_%03d" % (split, k))
                os.makedirs(os.path.join(frame_dir, "train"))
                demo.write_png(os.path.join(frame_dir, "train", "r_000.png"), blank)
                with open(os.path.join(frame_dir, "transforms_train.json"), "w") as f:
                    json.dump({"camera_angle_x": FOV_X, "w": args.size, "h": args.size,
                               "frames": [{"file_path": "./train/r_000", "time": t, "transform_matrix": c2w}]}, f)
                ply = os.path.join(frame_dir, "posed.ply")
                toy.write_ply(ply, posed(parts, t))
                jobs.append((frame_dir, ply, os.path.join(scene, split, name + ".png")))
            with open(os.path.join(scene, "transforms_%s.json" % split), "w") as f:
                json.dump({"camera_angle_x": FOV_X, "w": args.size, "h": args.size, "frames": entries}, f, indent=2)

        running = []

        def finish(entry):
            process, frame_dir, target = entry
            output = process.communicate()[0]
            if process.returncode != 0:
                sys.stderr.write(output.decode(errors="replace"))
                sys.exit("make-dynamic-scene: splat render failed for %s" % os.path.relpath(target, scene))
            with open(os.path.join(frame_dir, "renders", "cameras.json")) as f:
                if len(json.load(f)) != 1:
                    sys.exit("make-dynamic-scene: splat rendered other than one camera for %s" % target)
            shutil.move(os.path.join(frame_dir, "renders", "00000.png"), target)
            shutil.rmtree(frame_dir)

        try:
            for done, (frame_dir, ply, target) in enumerate(jobs):
                while len(running) >= args.jobs:
                    finish(running.pop(0))
                command = [splat, "render", ply, "--cameras", frame_dir, "--split", "all", "--alpha",
                           "--out", os.path.join(frame_dir, "renders")]
                running.append((subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
                                frame_dir, target))
                if (done + 1) % 20 == 0:
                    print("make-dynamic-scene: %d/%d frames started (%.0f s)"
                          % (done + 1, len(jobs), time.time() - started), flush=True)
            while running:
                finish(running.pop(0))
        finally:
            for process, _, _ in running:  # after a failure: stop the other renders before cleaning up
                process.kill()
                process.wait()
        shutil.rmtree(os.path.join(work, "frames"))
        if os.path.exists(out):
            old = out + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
            os.rename(scene, out)
            shutil.rmtree(old)
        else:
            os.rename(scene, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("wrote %s: %d training and %d test frames of %dx%d px, %d Gaussians per frame, in %.0f s"
          % (os.path.relpath(out), args.train, args.test, args.size, args.size,
             sum(len(s) for s in parts.values()), time.time() - started))


if __name__ == "__main__":
    main()
