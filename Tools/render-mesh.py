#!/usr/bin/env python3
"""Draws a mesh PLY written by `splat mesh` into a PNG, for the docs.

A picture of the mesh itself (not of the model it came from): every
triangle is projected with an orthographic camera and rasterised with a
depth buffer (vectorised over triangles in numpy, in bounding-box chunks),
shaded by its face normal (Lambert with a head light plus ambient), in grey.
Needs python3 and numpy only.

usage: python3 Tools/render-mesh.py MESH.ply OUT.png [--size 800]
                                    [--azimuth DEG] [--elevation DEG] [--up z|y|-y]
"""
import argparse
import math
import struct
import sys
import zlib

import numpy as np


def read_ply(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    vertices = faces = 0
    props = []
    for line in header:
        words = line.split()
        if words[:2] == ["element", "vertex"]:
            vertices = int(words[2])
        elif words[:2] == ["element", "face"]:
            faces = int(words[2])
        elif words[0] == "property" and words[1] != "list" and faces == 0:
            props.append((words[2], "<f4" if words[1] in ("float", "float32") else "u1"))
    vtype = np.dtype([(name, kind) for kind, name in [(k, n) for n, k in props]])
    v = np.frombuffer(data, dtype=vtype, count=vertices, offset=end)
    ftype = np.dtype([("n", "u1"), ("i", "<i4", (3,))])
    f = np.frombuffer(data, dtype=ftype, count=faces, offset=end + vertices * vtype.itemsize)
    positions = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)
    return positions, f["i"].astype(np.int64)


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mesh")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--azimuth", type=float, default=30)
    ap.add_argument("--elevation", type=float, default=25)
    ap.add_argument("--up", default="z")
    a = ap.parse_args()
    p, tri = read_ply(a.mesh)
    if len(tri) == 0:
        sys.exit(f"{a.mesh}: no triangles")
    up = {"z": np.array([0, 0, 1.0]), "y": np.array([0, 1.0, 0]), "-y": np.array([0, -1.0, 0])}[a.up]
    # A frame with `up`: the view direction from azimuth and elevation around it.
    helper = np.array([1.0, 0, 0]) if abs(up[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(up, helper); e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    az, el = math.radians(a.azimuth), math.radians(a.elevation)
    toward = math.cos(el) * (math.cos(az) * e1 + math.sin(az) * e2) + math.sin(el) * up  # from the object to the eye
    right = np.cross(up, toward); right /= np.linalg.norm(right)
    camup = np.cross(toward, right)
    center = (p.min(0) + p.max(0)) / 2
    q = p - center
    x, y, depth = q @ right, q @ camup, q @ toward  # larger depth: nearer the eye
    extent = max(x.max() - x.min(), y.max() - y.min()) * 1.05
    s = a.size
    px = (x - (x.max() + x.min()) / 2) / extent * s + s / 2
    py = s / 2 - (y - (y.max() + y.min()) / 2) / extent * s
    # Face normals and shading (two-sided, a head light).
    a0, a1, a2 = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    n = np.cross(a1 - a0, a2 - a0)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)
    shade = 0.15 + 0.85 * np.abs(n @ toward)
    zbuf = np.full((s, s), -np.inf)
    image = np.full((s, s), 1.0)
    X, Y, Z = px[tri], py[tri], depth[tri]
    lo_x = np.clip(np.floor(X.min(1)).astype(int), 0, s - 1); hi_x = np.clip(np.ceil(X.max(1)).astype(int), 0, s - 1)
    lo_y = np.clip(np.floor(Y.min(1)).astype(int), 0, s - 1); hi_y = np.clip(np.ceil(Y.max(1)).astype(int), 0, s - 1)
    # Triangles grouped by bounding-box size, each group over its box's pixels at once.
    span = np.maximum(hi_x - lo_x, hi_y - lo_y) + 1
    for k in np.unique(span):
        idx = np.nonzero(span == k)[0]
        for start in range(0, len(idx), max(1, 2_000_000 // int(k * k))):
            t = idx[start:start + max(1, 2_000_000 // int(k * k))]
            ox, oy = np.meshgrid(np.arange(k), np.arange(k))
            cx = lo_x[t, None] + ox.ravel()[None, :] + 0.5
            cy = lo_y[t, None] + oy.ravel()[None, :] + 0.5
            x0, y0, x1, y1, x2, y2 = X[t, 0:1], Y[t, 0:1], X[t, 1:2], Y[t, 1:2], X[t, 2:3], Y[t, 2:3]
            d = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
            d = np.where(np.abs(d) < 1e-12, 1e-12, d)
            w0 = ((y1 - y2) * (cx - x2) + (x2 - x1) * (cy - y2)) / d
            w1 = ((y2 - y0) * (cx - x2) + (x0 - x2) * (cy - y2)) / d
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (cx < s) & (cy < s)
            z = w0 * Z[t, 0:1] + w1 * Z[t, 1:2] + w2 * Z[t, 2:3]
            ti, pi = np.nonzero(inside)
            ix, iy = cx[ti, pi].astype(int), cy[ti, pi].astype(int)
            zz = z[ti, pi]
            # Nearest first within the batch, then against the buffer.
            order = np.lexsort((-zz, iy * s + ix))
            key = (iy * s + ix)[order]
            first = np.ones(len(key), bool); first[1:] = key[1:] != key[:-1]
            sel = order[first]
            ix, iy, zz, tt = ix[sel], iy[sel], zz[sel], t[ti[sel]]
            win = zz > zbuf[iy, ix]
            zbuf[iy[win], ix[win]] = zz[win]
            image[iy[win], ix[win]] = shade[tt[win]]
    grey = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    write_png(a.out, np.repeat(grey[:, :, None], 3, axis=2))
    print(f"{a.out}: {len(p)} vertices, {len(tri)} triangles drawn at {s}x{s}")


if __name__ == "__main__":
    main()
