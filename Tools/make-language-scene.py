#!/usr/bin/env python3
"""Writes Scenes/language: a small synthetic scene for language-feature Gaussians.

Six static, opaque, well separated objects made of known flat surface
Gaussians (SH degree 0, opacity 0.97, a colour per Gaussian: a base colour
times the dynamic scene's fixed fake shading 0.55 + 0.45 * max(0, n . L),
L = (0.4, 0.3, 0.87) normalised), with the LangSplat-style feature files an
open-vocabulary (LangSplat / LangSplatV2) training reads, and known
embeddings to query. World axes are z up; every Gaussian lies inside the
box [-1, 1]^3, within 0.99 of the origin, and any two objects are at least
0.29 apart (Gaussian centres). There is no ground plane: the objects float at different
heights and the background is empty (transparent). Object i (0-based; line
i + 1 of queries.txt, row i of queries.npy):

  i  name           shape, size                         centre               group (level l)  Gaussians
  0  red ball       ball, radius 0.22                   ( 0.35,  0.55, -0.40)  0 right          300
  1  yellow cube    box, half-size 0.15                 ( 0.50, -0.20, -0.30)  0 right          294
  2  blue ball      ball, radius 0.20                   (-0.55,  0.50,  0.05)  1 left           250
  3  green box      box, half-sizes 0.14 x 0.14 x 0.24  (-0.60, -0.25,  0.05)  1 left           230
                    (upright)
  4  purple bar     box, half-sizes 0.06 x 0.40 x 0.06  ( 0.00, -0.20,  0.45)  2 middle         258
                    (long along y, the highest object)
  5  cyan cylinder  upright cylinder, radius 0.12,      (-0.20,  0.10, -0.55)  2 middle         168
                    half-height 0.24, caps included     (the lowest object)

Base colours: red (0.9, 0.2, 0.15), yellow (0.95, 0.8, 0.1), blue (0.2, 0.35,
0.95), green (0.15, 0.7, 0.2), purple (0.6, 0.25, 0.85), cyan (0.1, 0.8,
0.85). 1,500 Gaussians in all. Balls are Fibonacci spheres and boxes
jittered grids over their faces (make-dynamic-scene.py's samplers); the
cylinder is 8 rings of 18 over its side and two rings (3 and 9) on each
cap. Tangent size (the two long scales) 0.03 to 0.036, normal scale 0.15 of
that. The centres were picked (by a search over these cameras) so that
every object covers at least 55 pixels of every test view and is never cut
by an image border; in a few training views an object is mostly hidden
behind another (down to 6 pixels).

Files (NeRF-synthetic layout, splat's training output layout for the model):
- model/point_cloud.ply (3DGS layout, as make-dynamic-scene.py writes),
  model/model.json ({"kind": "gaussians", "format_version": 1,
  "sh_degree": 0, "antialias": "classic", "background": [1, 1, 1]}) and
  model/cameras.json (the 40 cameras as `splat render` records them, with
  their split): the geometry a language training starts from
  (`--init Scenes/language/model`).
- transforms_train.json / transforms_test.json: camera_angle_x
  (NeRF-synthetic's), OpenGL-axes camera-to-world matrices; train/*.png and
  test/*.png, 80x80 RGBA with a transparent background, rendered by
  `splat render model --cameras ... --alpha`. 40 cameras look at the origin
  from distance 3.4, spread over a sphere (golden-angle azimuths, elevation
  -15 to 65 degrees in area-uniform bands, jittered); every 5th of them
  (the 3rd, 8th, ...) is a test view. Image stems are unique over both
  splits, so the feature files can sit in one folder: the 32 training views
  are r_000 ... r_031, the 8 test views r_032 ... r_039.
- features/<stem>_f.npy (float32 [15, 512]) and features/<stem>_s.npy
  (float32 [4, 80, 80]) for every view, train and test, LangSplat's
  layout. Levels (rows of _s): 0 default = level s; 1 "s" = each object its
  own segment; 2 "m" = the same as s; 3 "l" = the objects in three groups
  by side (0 right: the red ball and the yellow cube; 1 left: the blue ball
  and the green box; 2 middle: the bar and the cylinder). Every _f.npy holds the same 15 rows in a fixed order, whether
  or not a segment is seen in that view: rows 0-5 level s (object i at row
  i), rows 6-11 level m (object i at row 6 + i), rows 12-14 level l (group g
  at row 12 + g). Level s and m rows are the object's embedding, level l
  rows its group's. _s values are those row indices (level m's already
  offset by 6, level l's by 12; level 0 uses level s's), -1 on background.
  So object i's ground-truth mask in a view is `_s[1] == i`.
- queries.npy (float32 [6, 512]: object i's embedding) and queries.txt (the
  names above, one a line); canonical.npy (float32 [4, 512]) and
  canonical.txt ("object", "things", "stuff", "texture"), LangSplat's
  canonical phrases, with their own embeddings.
Every embedding is a unit vector of independent normal draws (Python's
random.Random(seed).gauss): object i seed 1000 + i, group g 2000 + g,
canonical phrase c 3000 + c, so they are near orthogonal (|cos| < 0.2).

The segment maps come from a second render: the same Gaussians with the
object's pure ID colour (red, green, blue, yellow, magenta, cyan for
objects 0-5) and opacity 0.9997 (logit 8), as a bare PLY (classic, not
antialiased) with --alpha over black. A pixel belongs to object i when its
alpha is above 0.5 and its (straight-alpha) colour is within 0.25 * sqrt(3)
of ID colour i (the nearest); else it is background (-1). Pixels where two
objects overlap at an edge thus fall to the background (about 1% of the
pixels the colour images cover).

usage: python3 Tools/make-language-scene.py [--out DIR] [--splat PATH]
defaults: Scenes/language; the splat binary is .build/release/splat,
.build/debug/splat or `splat` on PATH. Standard library only (no numpy).
Everything is written to a temporary folder and moved into place at the
end. Deterministic (fixed seeds).
"""
import argparse
import array
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
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no Tools/__pycache__ from the imported scripts
# The dynamic scene's script: its ball and box samplers and shading (and through it the toy
# scene's PLY helpers and splat lookup, and the demo scene's PNG writer and look-at helper).
_spec = importlib.util.spec_from_file_location("make_dynamic_scene", os.path.join(HERE, "make-dynamic-scene.py"))
dynamic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dynamic)
toy = dynamic.toy
demo = dynamic.demo

FOV_X = toy.FOV_X
SIZE = 80
TRAIN, TEST = 32, 8
CAMERA_RADIUS = 3.4
ELEVATION = (-15.0, 65.0)  # degrees
DIM = 512
OPACITY = 0.97
ID_LOGIT = 8.0
GROUPS = ["right", "left", "middle"]
CANONICAL = ["object", "things", "stuff", "texture"]
# name, base colour, ID colour, centre, group
OBJECTS = [
    ("red ball", (0.9, 0.2, 0.15), (1, 0, 0), (0.35, 0.55, -0.4), 0),
    ("yellow cube", (0.95, 0.8, 0.1), (0, 1, 0), (0.5, -0.2, -0.3), 0),
    ("blue ball", (0.2, 0.35, 0.95), (0, 0, 1), (-0.55, 0.5, 0.05), 1),
    ("green box", (0.15, 0.7, 0.2), (1, 1, 0), (-0.6, -0.25, 0.05), 1),
    ("purple bar", (0.6, 0.25, 0.85), (1, 0, 1), (0.0, -0.2, 0.45), 2),
    ("cyan cylinder", (0.1, 0.8, 0.85), (0, 1, 1), (-0.2, 0.1, -0.55), 2),
]


def cylinder(radius, half_height, rings, per_ring, cap_rings, colour, size):
    """Rings of samples over an upright cylinder's side and its two caps, centred at the origin."""
    out = []
    for r in range(rings):
        z = half_height * (2 * (r + 0.5) / rings - 1)
        for k in range(per_ring):
            a = 2 * math.pi * (k + 0.5 * (r % 2)) / per_ring
            n = (math.cos(a), math.sin(a), 0.0)
            out.append(((radius * n[0], radius * n[1], z), n, size, dynamic.shade(colour, n)))
    for sign in (1.0, -1.0):
        n = (0.0, 0.0, sign)
        for r in range(cap_rings):
            rr = radius * (r + 0.5) / cap_rings
            count = max(1, int(round(2 * math.pi * rr / (radius / cap_rings))))
            for k in range(count):
                a = 2 * math.pi * (k + 0.5 * r) / count
                out.append(((rr * math.cos(a), rr * math.sin(a), sign * half_height), n, size,
                            dynamic.shade(colour, n)))
    return out


def shapes(rng):
    """Each object's samples (position, normal, tangent size, colour) in its own frame, in OBJECTS' order."""
    colour = [o[1] for o in OBJECTS]
    return [
        dynamic.ball(300, 0.22, colour[0], 0.034),
        dynamic.box((0.15, 0.15, 0.15), 0.043, lambda p: colour[1], 0.03, rng),
        dynamic.ball(250, 0.2, colour[2], 0.034),
        dynamic.box((0.14, 0.14, 0.24), 0.056, lambda p: colour[3], 0.036, rng),
        dynamic.box((0.06, 0.4, 0.06), 0.04, lambda p: colour[4], 0.03, rng),
        cylinder(0.12, 0.24, 8, 18, 2, colour[5], 0.032),
    ]


def placed(parts):
    """The objects' samples in world space, each with its object index."""
    out = []
    for i, samples in enumerate(parts):
        centre = OBJECTS[i][3]
        for p, n, size, colour in samples:
            out.append((tuple(p[k] + centre[k] for k in range(3)), n, size, colour, i))
    return out


def write_ply(path, samples, opacity_logit):
    """The 3DGS PLY layout with SH degree 0 (no f_rest), as make-toy-scene.py writes, with a given opacity."""
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    header = "ply\nformat binary_little_endian 1.0\nelement vertex %d\n" % len(samples)
    header += "".join("property float %s\n" % n for n in names) + "end_header\n"
    with open(path, "wb") as f:
        f.write(header.encode())
        for p, n, size, colour in samples:
            q = toy.quaternion_from_normal(n)
            dc = [(c - 0.5) / toy.SH_C0 for c in colour]
            scales = [math.log(size), math.log(size), math.log(size * 0.15)]
            f.write(struct.pack("<17f", *p, 0, 0, 0, *dc, opacity_logit, *scales, *q))


def sphere_cameras(count, rng):
    """Camera-to-world matrices looking at the origin from well spread directions
    (golden-angle azimuths, area-uniform elevation bands over ELEVATION, jittered)."""
    lo, hi = (math.sin(math.radians(e)) for e in ELEVATION)
    golden = math.pi * (3 - math.sqrt(5))
    out = []
    for k in range(count):
        z = lo + (hi - lo) * (k + rng.uniform(0.1, 0.9)) / count
        azimuth = golden * k + rng.uniform(-0.3, 0.3)
        r = math.sqrt(1 - z * z)
        eye = (CAMERA_RADIUS * r * math.cos(azimuth), CAMERA_RADIUS * r * math.sin(azimuth), CAMERA_RADIUS * z)
        out.append(demo.look_at(eye, (0.0, 0.0, 0.0)))
    return out


def embedding(seed):
    rng = random.Random(seed)
    v = [rng.gauss(0.0, 1.0) for _ in range(DIM)]
    n = math.sqrt(sum(c * c for c in v))
    return [c / n for c in v]


def write_npy(path, shape, values):
    """A float32 little-endian NPY file (format 1.0, C order)."""
    data = array.array("f", values)
    if data.itemsize != 4:
        sys.exit("make-language-scene: this Python's array('f') is not 32-bit")
    if len(data) != math.prod(shape):
        raise ValueError("%s: %d values for shape %s" % (path, len(data), shape))
    if sys.byteorder == "big":
        data.byteswap()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join("%d" % s for s in shape) if len(shape) > 1 else "%d," % shape[0])
    header += " " * (63 - (10 + len(header)) % 64) + "\n"  # the whole header a multiple of 64 bytes
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1"))
        f.write(data.tobytes())


def read_png(path):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced grey, RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError("%s: only 8-bit non-interlaced grey/RGB/RGBA PNGs are read" % path)
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            elif kind != 0:
                raise ValueError("%s: unknown PNG filter %d" % (path, kind))
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def object_ids(path):
    """Per pixel (row-major) the object index of an ID render, -1 for background."""
    width, height, channels, rows = read_png(path)
    if channels != 4:
        raise ValueError("%s: the ID render is not RGBA" % path)
    limit = (0.25 * math.sqrt(3) * 255) ** 2
    ids = []
    for row in rows:
        for x in range(width):
            r, g, b, a = row[4 * x:4 * x + 4]
            best, found = limit, -1
            if a > 127:
                for i, o in enumerate(OBJECTS):
                    d = (r - 255 * o[2][0]) ** 2 + (g - 255 * o[2][1]) ** 2 + (b - 255 * o[2][2]) ** 2
                    if d < best:
                        best, found = d, i
            ids.append(found)
    return width, height, ids


def render(splat, model, scene, out):
    result = subprocess.run([splat, "render", model, "--cameras", scene, "--split", "all", "--alpha", "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.stderr.write(result.stdout.decode(errors="replace"))
        sys.exit("make-language-scene: splat render %s failed" % model)
    with open(os.path.join(out, "cameras.json")) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Scenes", "language"))
    parser.add_argument("--splat")
    args = parser.parse_args()
    splat = toy.find_splat(args.splat)
    out = os.path.abspath(args.out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".splat-language-", dir=parent)
    started = time.time()
    try:
        samples = placed(shapes(random.Random(7)))
        scene = os.path.join(work, "scene")
        model = os.path.join(scene, "model")
        os.makedirs(model)
        write_ply(os.path.join(model, "point_cloud.ply"), [s[:4] for s in samples], math.log(OPACITY / (1 - OPACITY)))
        with open(os.path.join(model, "model.json"), "w") as f:
            json.dump({"kind": "gaussians", "format_version": 1, "sh_degree": 0, "antialias": "classic",
                       "background": [1.0, 1.0, 1.0]}, f, indent=2)
        ids_ply = os.path.join(work, "ids.ply")
        write_ply(ids_ply, [(p, n, size, OBJECTS[i][2]) for p, n, size, _, i in samples], ID_LOGIT)

        # Cameras: every 5th sphere camera (from the 3rd) is a test view; stems are unique over both splits.
        cameras = sphere_cameras(TRAIN + TEST, random.Random(11))
        test_ids = [k for k in range(len(cameras)) if k % 5 == 2][:TEST]
        splits = {"train": [c for k, c in enumerate(cameras) if k not in test_ids],
                  "test": [cameras[k] for k in test_ids]}
        demo.SIZE = SIZE  # the PNG writer's size
        blank = [bytes(4 * SIZE)] * SIZE
        stems = {}
        number = 0
        for split, mats in splits.items():
            os.makedirs(os.path.join(scene, split))
            frames = []
            for c2w in mats:
                stem = "r_%03d" % number
                number += 1
                stems["%s/%s" % (split, stem)] = split
                demo.write_png(os.path.join(scene, split, stem + ".png"), blank)  # placeholder: splat reads the size
                frames.append({"file_path": "./%s/%s" % (split, stem), "transform_matrix": c2w})
            with open(os.path.join(scene, "transforms_%s.json" % split), "w") as f:
                json.dump({"camera_angle_x": FOV_X, "w": SIZE, "h": SIZE, "frames": frames}, f, indent=2)

        colour_dir, id_dir = os.path.join(work, "colour"), os.path.join(work, "ids")
        rendered = render(splat, model, scene, colour_dir)
        rendered_ids = render(splat, ids_ply, scene, id_dir)
        if len(rendered) != len(cameras) or len(rendered_ids) != len(cameras):
            sys.exit("make-language-scene: splat rendered %d and %d frames, not %d"
                     % (len(rendered), len(rendered_ids), len(cameras)))

        # Embeddings: objects (levels s and m), groups (level l), canonical phrases.
        object_vectors = [embedding(1000 + i) for i in range(len(OBJECTS))]
        group_vectors = [embedding(2000 + g) for g in range(len(GROUPS))]
        canonical_vectors = [embedding(3000 + c) for c in range(len(CANONICAL))]
        count = len(OBJECTS)
        rows = object_vectors + object_vectors + group_vectors  # level s, level m, level l
        flat_rows = [c for v in rows for c in v]
        features = os.path.join(scene, "features")
        os.makedirs(features)
        print("per-view pixels of each object (%s):" % ", ".join(o[0] for o in OBJECTS))
        for k, (camera, camera_ids) in enumerate(zip(rendered, rendered_ids)):
            name = camera["img_name"] if "img_name" in camera else camera["name"]
            stem = os.path.splitext(os.path.basename(name))[0]
            split = camera.get("split", "train")
            if ("%s/%s" % (split, stem)) not in stems or (camera_ids.get("img_name", camera_ids.get("name")) != name):
                sys.exit("make-language-scene: unexpected rendered camera %r" % name)
            shutil.copyfile(os.path.join(colour_dir, "%05d.png" % k), os.path.join(scene, split, stem + ".png"))
            width, height, ids = object_ids(os.path.join(id_dir, "%05d.png" % k))
            if (width, height) != (SIZE, SIZE):
                sys.exit("make-language-scene: %s rendered at %dx%d" % (name, width, height))
            level_s = [float(i) for i in ids]
            level_m = [float(count + i) if i >= 0 else -1.0 for i in ids]
            level_l = [float(2 * count + OBJECTS[i][4]) if i >= 0 else -1.0 for i in ids]
            write_npy(os.path.join(features, stem + "_s.npy"), (4, height, width), level_s + level_s + level_m + level_l)
            write_npy(os.path.join(features, stem + "_f.npy"), (len(rows), DIM), flat_rows)
            pixels = [ids.count(i) for i in range(count)]
            print("  %-5s %s: %s" % (split, stem, " ".join("%4d" % p for p in pixels)))
        shutil.copyfile(os.path.join(colour_dir, "cameras.json"), os.path.join(model, "cameras.json"))

        write_npy(os.path.join(scene, "queries.npy"), (count, DIM), [c for v in object_vectors for c in v])
        with open(os.path.join(scene, "queries.txt"), "w") as f:
            f.write("".join(o[0] + "\n" for o in OBJECTS))
        write_npy(os.path.join(scene, "canonical.npy"), (len(CANONICAL), DIM), [c for v in canonical_vectors for c in v])
        with open(os.path.join(scene, "canonical.txt"), "w") as f:
            f.write("".join(c + "\n" for c in CANONICAL))

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
    print("wrote %s: %d training and %d test views of %dx%d px, %d Gaussians, %d objects, in %.0f s"
          % (os.path.relpath(out), TRAIN, TEST, SIZE, SIZE, len(samples), len(OBJECTS), time.time() - started))


if __name__ == "__main__":
    main()
