#!/usr/bin/env python3
"""Writes Scenes/demo: a tiny NeRF-synthetic-style scene splat ships with.

Three shaded spheres on a transparent background, seen from 24 training and
8 test cameras on orbits around the origin, 64x64 RGBA PNGs, with
transforms_train.json / transforms_test.json (camera_angle_x, OpenGL-axes
camera-to-world matrices). Pure standard-library Python (zlib for PNG), so it
runs anywhere; the output is deterministic.

usage: python3 Tools/make-demo-scene.py [OUTPUT_FOLDER]   (default Scenes/demo)
"""
import json
import math
import os
import struct
import sys
import zlib

SIZE = 64
FOV_X = 0.6911112070083618  # NeRF-synthetic's camera_angle_x
SPHERES = [  # centre, radius, colour
    ((0.0, 0.0, 0.0), 0.55, (0.85, 0.25, 0.20)),
    ((0.75, 0.35, 0.1), 0.3, (0.20, 0.65, 0.30)),
    ((-0.55, -0.55, 0.25), 0.35, (0.25, 0.35, 0.85)),
]
LIGHT = (0.4, 0.3, 0.87)


def normalize(v):
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


def cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def look_at(eye, target, up=(0.0, 0.0, 1.0)):
    """Camera-to-world (OpenGL axes: x right, y up, z backward) as a 4x4 list."""
    back = normalize(tuple(e - t for e, t in zip(eye, target)))
    right = normalize(cross(up, back))
    cam_up = cross(back, right)
    return [[right[i], cam_up[i], back[i], eye[i]] for i in range(3)] + [[0.0, 0.0, 0.0, 1.0]]


def render(c2w):
    focal = 0.5 * SIZE / math.tan(0.5 * FOV_X)
    eye = tuple(c2w[i][3] for i in range(3))
    rows = []
    for j in range(SIZE):
        row = bytearray()
        for i in range(SIZE):
            # Pixel centre, OpenGL camera looks down -z with y up.
            d_cam = ((i + 0.5 - SIZE / 2) / focal, -(j + 0.5 - SIZE / 2) / focal, -1.0)
            d = normalize(tuple(sum(c2w[r][k] * d_cam[k] for k in range(3)) for r in range(3)))
            best, hit = float("inf"), None
            for centre, radius, colour in SPHERES:
                oc = tuple(e - c for e, c in zip(eye, centre))
                b = sum(o * dd for o, dd in zip(oc, d))
                c = sum(o * o for o in oc) - radius * radius
                disc = b * b - c
                if disc > 0:
                    t = -b - math.sqrt(disc)
                    if 0 < t < best:
                        best, hit = t, (centre, radius, colour)
            if hit is None:
                row += bytes((0, 0, 0, 0))
                continue
            centre, radius, colour = hit
            p = tuple(e + best * dd for e, dd in zip(eye, d))
            n = normalize(tuple(pp - cc for pp, cc in zip(p, centre)))
            shade = 0.25 + 0.75 * max(0.0, sum(a * b for a, b in zip(n, LIGHT)))
            row += bytes(min(255, int(round(255 * c * shade))) for c in colour) + b"\xff"
        rows.append(bytes(row))
    return rows


def write_png(path, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Scenes", "demo")
    for split, count, elevation, phase in (("train", 24, 0.45, 0.0), ("test", 8, 0.3, 0.4)):
        os.makedirs(os.path.join(out, split), exist_ok=True)
        frames = []
        for k in range(count):
            angle = 2 * math.pi * k / count + phase
            radius = 4.0
            eye = (radius * math.cos(angle) * math.cos(elevation), radius * math.sin(angle) * math.cos(elevation),
                   radius * math.sin(elevation))
            c2w = look_at(eye, (0.0, 0.0, 0.0))
            name = "r_%d" % k
            write_png(os.path.join(out, split, name + ".png"), render(c2w))
            frames.append({"file_path": "./%s/%s" % (split, name), "transform_matrix": c2w})
        with open(os.path.join(out, "transforms_%s.json" % split), "w") as f:
            json.dump({"camera_angle_x": FOV_X, "frames": frames}, f, indent=2)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
