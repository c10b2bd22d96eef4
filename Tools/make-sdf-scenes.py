#!/usr/bin/env python3
"""Writes Scenes/sdf-sphere and Scenes/sdf-torus: two small synthetic scenes in
the NeuS/IDR layout, for surface-reconstruction tests whose true surface is
known exactly.

Each folder holds
  image/000000.png ... 000031.png   64x64 RGB, black background
  mask/000.png ... 031.png          64x64 grey, 255 object / 0 background
                                    (DTU's naming: masks pair with images by
                                    the number in their name)
  cameras_sphere.npz                world_mat_i = K [R | t] (4x4), scale_mat_i,
                                    and their inverses, float64, stored zip
  shape.json                        the analytic shape in world coordinates

The world frame is deliberately not NeuS's unit sphere: the region of
interest is centred at CENTER with radius SCALE, and scale_mat_i =
translate(CENTER) * scale(SCALE) maps the unit sphere onto it, so that code
normalising by scale_mat is exercised. In unit-sphere units the sphere has
radius 0.6 and the torus major radius 0.55, minor radius 0.2, its axis
tilted 30 degrees from world +z towards +y.

Cameras: 32 on a Fibonacci sphere of radius 3 (unit-sphere units) around the
centre, looking at it with world +z as "up"; fx = fy = 90, cx = cy = 32
(pixel centres at half-integer coordinates, as splat samples them:
docs/conventions.md). Each pixel is one ray through its centre, sphere traced
against the analytic SDF; no anti-aliasing, so image and mask agree exactly.
Shading: colour albedo(p) * (0.25 + 0.75 * max(0, n . L)) with a fixed world
light direction L and an albedo that varies smoothly with position (so the
surface has texture for photometric losses), values in [0, 1] scaled to
0...255 and rounded.

Python 3 and NumPy only (PNG and zip written by hand with zlib/struct/
zipfile); deterministic, byte for byte.

usage: python3 Tools/make-sdf-scenes.py [OUTPUT_PARENT]   (default Scenes)
"""
import io
import json
import os
import struct
import sys
import zipfile
import zlib

import numpy as np

SIZE = 64
VIEWS = 32
FOCAL = 90.0
DISTANCE = 3.0                        # camera distance, unit-sphere units
CENTER = np.array([0.3, -0.2, 0.1])   # region of interest, world
SCALE = 1.5                           # its radius, world
LIGHT = np.array([0.5, -0.4, 0.77])
LIGHT = LIGHT / np.linalg.norm(LIGHT)
TILT = np.radians(30.0)
TORUS_AXIS = np.array([0.0, np.sin(TILT), np.cos(TILT)])

SHAPES = {
    "sdf-sphere": {"kind": "sphere", "center": CENTER, "radius": 0.6 * SCALE},
    "sdf-torus": {"kind": "torus", "center": CENTER, "axis": TORUS_AXIS,
                  "major_radius": 0.55 * SCALE, "minor_radius": 0.2 * SCALE},
}


def sdf(shape, p):
    """Signed distance (world units) of points p [N, 3] to the shape."""
    q = p - shape["center"]
    if shape["kind"] == "sphere":
        return np.linalg.norm(q, axis=1) - shape["radius"]
    h = q @ shape["axis"]                               # along the axis
    radial = np.linalg.norm(q - h[:, None] * shape["axis"], axis=1)
    return np.hypot(radial - shape["major_radius"], h) - shape["minor_radius"]


def normal(shape, p, eps=1e-5):
    grad = np.stack([sdf(shape, p + eps * e) - sdf(shape, p - eps * e) for e in np.eye(3)], axis=1)
    return grad / np.linalg.norm(grad, axis=1, keepdims=True)


def albedo(p):
    """A smooth colour field over space, in [0.15, 0.95]."""
    q = (p - CENTER) / SCALE
    r = 0.55 + 0.4 * np.sin(4.0 * q[:, 0] + 1.0)
    g = 0.55 + 0.4 * np.sin(5.0 * q[:, 1] + 2.0 * q[:, 2])
    b = 0.55 + 0.4 * np.cos(3.0 * q[:, 2] - 2.0 * q[:, 0])
    return np.stack([r, g, b], axis=1)


def cameras():
    """World-to-camera (R, t) in OpenCV axes, for VIEWS cameras on a Fibonacci sphere."""
    golden = np.pi * (3.0 - np.sqrt(5.0))
    poses = []
    for k in range(VIEWS):
        z = 1.0 - (2.0 * k + 1.0) / VIEWS             # never exactly +-1: "up" stays defined
        r = np.sqrt(1.0 - z * z)
        direction = np.array([r * np.cos(golden * k), r * np.sin(golden * k), z])
        eye = CENTER + DISTANCE * SCALE * direction
        forward = (CENTER - eye) / np.linalg.norm(CENTER - eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])     # rows: camera axes in world
        poses.append((rotation, -rotation @ eye))
    return poses


def render(shape, rotation, translation, K):
    """RGB [H, W, 3] u8 and mask [H, W] u8 by sphere tracing."""
    j, i = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([i.ravel() + 0.5, j.ravel() + 0.5, np.ones(SIZE * SIZE)], axis=1)
    directions = (np.linalg.inv(K) @ pixels.T).T @ rotation   # camera -> world: R^T d
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    origin = -rotation.T @ translation
    # Start on the region of interest's near side; nothing lies outside it.
    t = np.full(len(directions), (DISTANCE - 1.0) * SCALE)
    far = (DISTANCE + 1.0) * SCALE
    hit = np.zeros(len(directions), dtype=bool)
    for _ in range(200):
        d = sdf(shape, origin + t[:, None] * directions)
        hit |= (d < 1e-6) & (t < far)
        t = np.where(hit | (t > far), t, t + d)
    points = origin + t[:, None] * directions
    shade = 0.25 + 0.75 * np.clip(normal(shape, points) @ LIGHT, 0.0, None)
    rgb = np.where(hit[:, None], albedo(points) * shade[:, None], 0.0)
    image = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(SIZE, SIZE, 3)
    mask = np.where(hit, 255, 0).astype(np.uint8).reshape(SIZE, SIZE)
    return image, mask


def write_png(path, pixels):
    """8-bit grey [H, W] or RGB [H, W, 3] PNG, filter 0 on every row."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_npz(path, arrays):
    """What np.savez writes (stored entries, zip64 local headers), with a fixed
    time stamp so that the file is the same on every run."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            with archive.open(info, "w", force_zip64=True) as entry:
                entry.write(buffer.getvalue())


def write_scene(folder, shape):
    os.makedirs(os.path.join(folder, "image"), exist_ok=True)
    os.makedirs(os.path.join(folder, "mask"), exist_ok=True)
    K = np.array([[FOCAL, 0.0, SIZE / 2], [0.0, FOCAL, SIZE / 2], [0.0, 0.0, 1.0]])
    scale_mat = np.diag([SCALE, SCALE, SCALE, 1.0])
    scale_mat[:3, 3] = CENTER
    arrays = {}
    for k, (rotation, translation) in enumerate(cameras()):
        image, mask = render(shape, rotation, translation, K)
        write_png(os.path.join(folder, "image", "%06d.png" % k), image)
        write_png(os.path.join(folder, "mask", "%03d.png" % k), mask)
        intrinsics = np.eye(4)
        intrinsics[:3, :3] = K
        world_to_camera = np.eye(4)
        world_to_camera[:3, :3] = rotation
        world_to_camera[:3, 3] = translation
        world_mat = intrinsics @ world_to_camera
        arrays["world_mat_%d" % k] = world_mat
        arrays["world_mat_inv_%d" % k] = np.linalg.inv(world_mat)
        arrays["scale_mat_%d" % k] = scale_mat
        arrays["scale_mat_inv_%d" % k] = np.linalg.inv(scale_mat)
    write_npz(os.path.join(folder, "cameras_sphere.npz"), arrays)
    description = {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in shape.items()}
    description["units"] = "world (the frame of world_mat)"
    description["region_of_interest"] = {"center": CENTER.tolist(), "radius": SCALE}
    with open(os.path.join(folder, "shape.json"), "w") as f:
        json.dump(description, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    parent = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Scenes")
    for name, shape in SHAPES.items():
        folder = os.path.join(parent, name)
        write_scene(folder, shape)
        print("wrote", os.path.normpath(folder))


if __name__ == "__main__":
    main()
