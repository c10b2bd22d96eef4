#!/usr/bin/env python3
"""Regenerates the seed corpora in Fuzz/Corpus from the project's fixtures.

Small valid inputs only (the whole corpus stays well under 2 MB):
Scenes/toy/toy.ply cut to a few Gaussians, the beer scene's COLMAP model
(../shared/scenes/beer/sparse/0, when present) cut to a few records, in
binary and as text, demo-scene images and transforms, hand-written
cameras.json. The NeRF model and Gaussian checkpoint seeds are written by
the Swift generator (Tools/fuzz.sh --make-seeds) because only the readers'
own encoders know their layouts. Standard library only, plus a C compiler
and libturbojpeg for the JPEG seeds.

usage: Fuzz/make-corpus.py   (from anywhere)
"""
import json, os, shutil, struct, subprocess, sys, tempfile, zlib

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "Corpus")


def out(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# --- Gaussian PLY and .splat -------------------------------------------------

def ply_header(props, count, extra=""):
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {count}"]
    lines += [f"property {t} {n}" for t, n in props]
    return ("\n".join(lines) + "\n" + extra + "end_header\n").encode()


def gaussian_ply():
    with open(os.path.join(ROOT, "Scenes/toy/toy.ply"), "rb") as f:
        data = f.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode()
    props = [l.split()[1:] for l in header.splitlines() if l.startswith("property")]
    stride = 4 * len(props)
    body = data[end:]
    for n in (1, 3):
        out("GaussianPLY", f"toy-{n}.ply", ply_header(props, n) + body[: n * stride])
    # Degree 1 (9 f_rest), doubles for x y z, an extra uchar property and a
    # trailing face element: the reader's other paths.
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(9)] + \
            ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    props = [("double" if n in "xyz" else "float", n) for n in names] + [("uchar", "red")]
    row = b""
    for n in names:
        v = {"rot_0": 1.0, "opacity": 0.5, "scale_0": -3.0, "scale_1": -3.0, "scale_2": -3.0}.get(n, 0.1)
        row += struct.pack("<d" if n in "xyz" else "<f", v)
    row += b"\x07"
    face = "element face 1\nproperty list uchar int vertex_indices\n"
    out("GaussianPLY", "degree1-double-extra.ply", ply_header(props, 2, face) + row * 2 + b"\x03" + struct.pack("<3i", 0, 1, 0))


def splat_file():
    def g(x, s, rgba, q):
        return struct.pack("<3f3f", *x, *s) + bytes(rgba) + bytes(q)
    out("SplatFile", "two.splat", g((0, 0, 0), (0.1, 0.1, 0.1), (255, 128, 0, 200), (255, 128, 128, 128))
        + g((1, -1, 2), (0.5, 0.01, 0.2), (0, 0, 255, 10), (128, 255, 128, 128)))
    out("SplatFile", "one.splat", g((0.5, 0.25, -1), (1, 1, 1), (10, 20, 30, 40), (200, 100, 150, 128)))


def spz_file():
    import gzip

    def spz(version, n, degree, body):
        header = struct.pack("<4sIIBBBB", b"NGSP", version, n, degree, 12, 0, 0)
        return gzip.compress(header + bytes(body), mtime=0)
    # Two Gaussians, degree 1, version 3 (as Tests/DatasetsTests/SPZTests.swift's fixture).
    body3 = ([0x00, 0x10, 0x00, 0x00, 0xe0, 0xff, 0x00, 0x08, 0x00, 0x00, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xff]
             + [128, 51] + [166, 64, 230, 128, 128, 128] + [160, 128, 176, 0, 255, 160]
             + [0x00, 0xb0, 0x0c, 0xc0, 0x00, 0x00, 0x00, 0x00]
             + [192, 128, 64, 160, 96, 128, 128, 136, 120] + [128] * 6 + [255, 128, 128])
    out("SPZFile", "two-v3.spz", spz(3, 2, 1, body3))
    # One Gaussian, degree 0, version 2 (3-byte rotation).
    out("SPZFile", "one-v2.spz", spz(2, 1, 0, [0] * 9 + [255, 128, 128, 128, 160, 160, 160] + [191, 64, 128]))


# --- COLMAP ------------------------------------------------------------------

PARAMS = {0: 3, 1: 4, 2: 4, 3: 5, 4: 8, 5: 8}
NAMES = ["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "OPENCV_FISHEYE"]


def read_beer(sparse):
    cams, images, points = [], [], []
    with open(os.path.join(sparse, "cameras.bin"), "rb") as f:
        d = f.read()
    n, = struct.unpack_from("<Q", d, 0); o = 8
    for _ in range(n):
        cid, model, w, h = struct.unpack_from("<iiQQ", d, o); o += 24
        k = PARAMS[model]
        cams.append((cid, model, w, h, struct.unpack_from(f"<{k}d", d, o))); o += 8 * k
    with open(os.path.join(sparse, "images.bin"), "rb") as f:
        d = f.read()
    n, = struct.unpack_from("<Q", d, 0); o = 8
    for _ in range(min(n, 2)):
        iid, *qt = struct.unpack_from("<I7d", d, o); o += 60
        cid, = struct.unpack_from("<I", d, o); o += 4
        e = d.index(b"\0", o); name = d[o:e].decode(); o = e + 1
        m, = struct.unpack_from("<Q", d, o); o += 8
        pts = [struct.unpack_from("<ddq", d, o + 24 * i) for i in range(m)]; o += 24 * m
        images.append((iid, qt, cid, name, pts[:3]))
    with open(os.path.join(sparse, "points3D.bin"), "rb") as f:
        d = f.read()
    n, = struct.unpack_from("<Q", d, 0); o = 8
    for _ in range(min(n, 3)):
        pid, x, y, z, r, g, b, err, m = struct.unpack_from("<Q3d3BdQ", d, o); o += 43 + 8
        track = [struct.unpack_from("<ii", d, o + 8 * i) for i in range(m)]; o += 8 * m
        points.append((pid, (x, y, z), (r, g, b), err, track[:2]))
    used = {i[2] for i in images}
    return [c for c in cams if c[0] in used][:2] or cams[:1], images, points


def synthetic_model():
    cams = [(1, 1, 64, 48, (50.0, 52.0, 32.0, 24.0)), (2, 4, 64, 48, (50, 50, 32, 24, 0.01, -0.01, 0.001, 0.0))]
    images = [(1, [1, 0, 0, 0, 0.1, 0.2, 3.0], 1, "a.png", [(10.5, 20.5, 1), (1.0, 2.0, -1)]),
              (2, [0.7071, 0, 0.7071, 0, 0, 0, 4.0], 2, "b.png", [])]
    points = [(1, (0.1, 0.2, 0.3), (255, 0, 10), 0.5, [(1, 0)])]
    return cams, images, points


def colmap_binary(cams, images, points):
    c = struct.pack("<Q", len(cams))
    for cid, model, w, h, p in cams:
        c += struct.pack(f"<iiQQ{len(p)}d", cid, model, w, h, *p)
    i = struct.pack("<Q", len(images))
    for iid, qt, cid, name, pts in images:
        i += struct.pack("<I7dI", iid, *qt, cid) + name.encode() + b"\0" + struct.pack("<Q", len(pts))
        for p in pts:
            i += struct.pack("<ddq", *p)
    p3 = struct.pack("<Q", len(points))
    for pid, xyz, rgb, err, track in points:
        p3 += struct.pack("<Q3d3BdQ", pid, *xyz, *rgb, err, len(track))
        for t in track:
            p3 += struct.pack("<ii", *t)
    return c, i, p3


def colmap_text(cams, images, points):
    c = "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
    c += f"# Number of cameras: {len(cams)}\n"
    for cid, model, w, h, p in cams:
        c += f"{cid} {NAMES[model]} {w} {h} " + " ".join(repr(float(v)) for v in p) + "\n"
    i = "# Image list with two lines of data per image:\n#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
    for iid, qt, cid, name, pts in images:
        i += f"{iid} " + " ".join(repr(float(v)) for v in qt) + f" {cid} {name}\n"
        i += " ".join(f"{x!r} {y!r} {pid}" for x, y, pid in pts) + "\n"
    p3 = "# 3D point list with one line of data per point:\n"
    for pid, xyz, rgb, err, track in points:
        p3 += f"{pid} " + " ".join(repr(float(v)) for v in xyz) + " " + " ".join(map(str, rgb)) + f" {err!r} "
        p3 += " ".join(f"{a} {b}" for a, b in track) + "\n"
    return c.encode(), i.encode(), p3.encode()


def colmap():
    # The first byte chooses the file: '0' cameras, '1' images, '2' points3D.
    models = {"synthetic": synthetic_model()}
    sparse = os.path.join(ROOT, "..", "shared", "scenes", "beer", "sparse", "0")
    if os.path.isdir(sparse):
        models["beer"] = read_beer(sparse)
    for tag, model in models.items():
        for sel, data in zip(b"012", colmap_binary(*model)):
            out("COLMAPBinary", f"{tag}-{chr(sel)}.bin", bytes([sel]) + data)
        for sel, data in zip(b"012", colmap_text(*model)):
            out("COLMAPText", f"{tag}-{chr(sel)}.txt", bytes([sel]) + data)


# --- JSON --------------------------------------------------------------------

def transforms_json():
    with open(os.path.join(ROOT, "Scenes/demo/transforms_train.json")) as f:
        t = json.load(f)
    t["frames"] = t["frames"][:2]
    out("TransformsJSON", "blender.json", json.dumps(t).encode())
    # instant-ngp style: explicit intrinsics, aabb_scale, per-frame sizes and times.
    t2 = {"fl_x": 50.0, "fl_y": 51.0, "cx": 32.0, "cy": 24.0, "w": 64, "h": 48, "aabb_scale": 4,
          "k1": 0.01, "k2": 0.0, "p1": 0.0, "p2": 0.0,
          "frames": [dict(f, time=0.5, w=64, h=48) for f in t["frames"][:1]]}
    out("TransformsJSON", "ngp.json", json.dumps(t2, indent=1).encode())


def cameras_json():
    rot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    gs = [{"id": 0, "img_name": "r_0", "width": 64, "height": 48, "position": [0.0, 0.0, -4.0],
           "rotation": rot, "fx": 50.0, "fy": 50.0}]
    splat = [dict(gs[0], cx=32.0, cy=24.0, split="test", time=0.25),
             dict(gs[0], id=1, img_name="r_1", cx=31.5, cy=24.5, split="train")]
    old = [{"id": 0, "name": "r_0", "width": 64, "height": 48, "position": [0.0, 0.0, -4.0],
            "rotation": rot, "fx": 50.0, "fy": 50.0, "cx": 32.0, "cy": 24.0, "split": "train"}]
    out("CamerasJSON", "3dgs.json", json.dumps(gs).encode())
    out("CamerasJSON", "splat.json", json.dumps(splat).encode())
    out("CamerasJSON", "old-splat.json", json.dumps(old).encode())


# --- images ------------------------------------------------------------------

def png(width, height, colour, depth, rows, plte=b"", trns=b"", interlace=0):
    """A PNG from raw filtered-free scanlines (filter byte 0 added here)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
    if plte: data += chunk(b"PLTE", plte)
    if trns: data += chunk(b"tRNS", trns)
    return data + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


JPEG_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>
/* usage: mkjpeg OUT WIDTH HEIGHT GREY(0/1) SUBSAMP PROGRESSIVE(0/1) */
int main(int argc, char **argv) {
    int w = atoi(argv[2]), h = atoi(argv[3]), grey = atoi(argv[4]), ch = grey ? 1 : 3;
    unsigned char *px = malloc(w * h * ch), *jpeg = NULL; unsigned long size = 0;
    for (int i = 0; i < w * h * ch; i++) px[i] = (unsigned char)(i * 37 + (i / ch) * 11);
    tjhandle t = tjInitCompress();
    int flags = atoi(argv[6]) ? TJFLAG_PROGRESSIVE : 0;
    if (tjCompress2(t, px, w, 0, h, grey ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                    grey ? TJSAMP_GRAY : atoi(argv[5]), 75, flags) != 0) return 1;
    FILE *f = fopen(argv[1], "wb"); fwrite(jpeg, 1, size, f); fclose(f);
    return 0;
}
"""


def images():
    # PNG, then JPEG (the PNG and JPEG targets each read the size and decode).
    demo = os.path.join(ROOT, "Scenes/demo/train")
    pngs = sorted(os.listdir(demo), key=lambda n: os.path.getsize(os.path.join(demo, n)))
    out("PNG", "demo.png", open(os.path.join(demo, pngs[0]), "rb").read())
    out("PNG", "grey8.png", png(3, 2, 0, 8, [b"\x00\x80\xff", b"\x10\x20\x30"]))
    out("PNG", "grey16.png", png(2, 2, 0, 16, [b"\x00\x01\xff\xff", b"\x80\x00\x12\x34"]))
    out("PNG", "rgba.png", png(2, 1, 6, 8, [b"\x01\x02\x03\x04\xff\xfe\xfd\xfc"]))
    out("PNG", "grey-alpha.png", png(1, 2, 4, 8, [b"\x40\x80", b"\xc0\xff"]))
    out("PNG", "palette-trns.png", png(4, 1, 3, 2, [b"\x1b"], plte=b"\x00\x00\x00\xff\x00\x00\x00\xff\x00\x00\x00\xff",
                                         trns=b"\x00\x80"))
    out("PNG", "rgb16-interlaced.png", png(1, 1, 2, 16, [b"\x00\x01\x02\x03\x04\x05"], interlace=1))
    # JPEG through libjpeg-turbo's own encoder (a throwaway C program).
    cc = shutil.which("clang") or shutil.which("cc") or shutil.which("gcc")
    tmp = tempfile.mkdtemp()
    try:
        src, exe = os.path.join(tmp, "mkjpeg.c"), os.path.join(tmp, "mkjpeg")
        open(src, "w").write(JPEG_C)
        subprocess.run([cc, src, "-o", exe, "-lturbojpeg"], check=True)
        for name, args in [("rgb420.jpg", "16 12 0 2 0"), ("rgb444.jpg", "9 7 0 0 0"), ("grey.jpg", "8 8 1 3 0"),
                           ("progressive.jpg", "16 16 0 1 1")]:
            dst = os.path.join(tmp, name)
            subprocess.run([exe, dst] + args.split(), check=True)
            out("JPEG", name, open(dst, "rb").read())
    except (TypeError, subprocess.CalledProcessError, OSError) as e:
        print(f"no JPEG seeds (needs a C compiler and libturbojpeg-dev): {e}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    gaussian_ply(); splat_file(); spz_file(); colmap(); transforms_json(); cameras_json(); images()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(CORPUS) for f in fs)
    print(f"corpus: {total} bytes in {CORPUS}")
