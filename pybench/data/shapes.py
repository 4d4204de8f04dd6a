""""shapes": pybench's 2-D image set, rendered from continuous geometry at any resolution.

Ten classes of shapes (triangle, square, pentagon, hexagon, disk, ring, 5-point star, cross,
8-tooth gear, crescent), each with a random position, size, rotation, aspect ratio, fill or
outline (random stroke width), background level, background gradient and contrast. A sample is a
scene description (`sample_params`), independent of the resolution; `render` rasterizes it with
area coverage: the shape's signed distance is evaluated on a fine grid of at least 64 x 64
points per image, each point anti-aliased over its own width, and box-averaged to the requested
pixels. So the same seed gives the same scenes at every resolution, and an image at r px is
(up to noise and 8-bit rounding) the box-average of the same scene rendered at 2r, 4r, ...:
exactly while both use the same 64-point grid (r <= 64 dividing 64), closely beyond.

Noise: a white-noise field integrated over each pixel, as a photon-counting sensor sees it, so a
pixel's std is NOISE * (resolution / 32): halving the pixel side doubles its noise, and averaging a
64 px image down to 8 px gives back the 8 px noise level. Extra pixels therefore buy no free
averaging; what they add is resolved geometry (corners, holes, teeth, strokes). Images are
stored as uint8 (0-255), like a camera's.

`python -m pybench.data.shapes --info` measures what the pixels carry (see shapes_info.py).
"""

import numpy as np

CLASSES = ("triangle", "square", "pentagon", "hexagon", "disk", "ring", "star", "cross", "gear",
           "crescent")
NUM_CLASSES = len(CLASSES)
DATA_SEED = 0               # the scenes are a fixed dataset; `load`'s seed only decides splits
VERSION = 1                 # bump when the scenes or the rendering change (recorded in meta)
DEFAULT_RESOLUTION = 32
DEFAULT_N_TRAIN = 10000
DEFAULT_N_TEST = 2000
MIN_FINE = 64               # fine-grid points per image side, at least
NOISE = 0.03                # pixel noise std (intensity in [0, 1]) at 32 px
STREAMS = {"train": 0, "test": 1}
_CHUNK = 2**20              # fine-grid points per vectorized block (~4 MiB per float32 temporary)

# Star-like classes: k tips at radius 1, inner vertices at radius rho. rho = cos(pi / k) makes the
# inner vertex an edge midpoint, i.e. a regular k-gon; smaller rho makes a star; rho near 1 a gear.
_STARS = {0: (3, np.cos(np.pi / 3)), 1: (4, np.cos(np.pi / 4)), 2: (5, np.cos(np.pi / 5)),
          3: (6, np.cos(np.pi / 6)), 6: (5, 0.45), 8: (8, 0.78)}


def sample_params(n, seed=DATA_SEED, stream="train"):
    """n scene descriptions (dict of float64 arrays; "label" int64), a pure function of (seed,
    stream). All uniforms come from one row-major draw, so the first k scenes of n are the k
    scenes of sample_params(k): training sets of different sizes are nested. Labels are balanced:
    every consecutive block of 10 holds each class once, in random order."""
    blocks = -(-n // NUM_CLASSES)
    u = np.random.default_rng([seed, STREAMS[stream]]).random((blocks * NUM_CLASSES, 11))[:n]
    key = np.random.default_rng([seed, STREAMS[stream], 99]).random((blocks, NUM_CLASSES))
    label = np.argsort(key, axis=1).reshape(-1)[:n].astype(np.int64)
    radius = 0.12 * 3.0 ** u[:, 1]                       # circumradius 0.12 .. 0.36, log-uniform
    aspect = np.exp(np.log(0.85) * (2 * u[:, 5] - 1))    # 0.85 .. 1.18, applied as (a, 1/a)
    reach = radius * np.maximum(aspect, 1 / aspect)
    return {
        "label": label,
        "radius": radius,
        "cx": reach + (1 - 2 * reach) * u[:, 2],
        "cy": reach + (1 - 2 * reach) * u[:, 3],
        "angle": 2 * np.pi * u[:, 4],
        "aspect": aspect,
        "outline": u[:, 6] < 0.5,
        "stroke": 0.12 + 0.12 * u[:, 7],                 # outline width, in units of radius
        "background": 0.10 + 0.25 * u[:, 8],
        "contrast": 0.35 + 0.20 * u[:, 9],
        "gradient": 0.15 * u[:, 10],                     # background ramp across the image
        "gradient_angle": 2 * np.pi * u[:, 0],
    }


def render(params, resolution, *, noise_seed=None, stream="train"):
    """Rasterize scenes at resolution x resolution. noise_seed None: the noise-free intensity
    image, float32 in [0, 1]. Otherwise uint8 images with sensor noise drawn from
    (noise_seed, stream, resolution). Returns (n, resolution, resolution)."""
    r = int(resolution)
    n = len(params["label"])
    img = coverage(params, r)
    # Intensity = background + gradient ramp + contrast * coverage, then sensor noise and 8-bit
    # rounding: in place, in blocks of images, so no image-sized temporaries are allocated.
    centers = ((np.arange(r) + 0.5) / r - 0.5).astype(np.float32)
    f32 = lambda k: params[k].astype(np.float32)[:, None, None]  # noqa: E731
    ga = params["gradient_angle"]
    ramp_x = (params["gradient"] * np.cos(ga)).astype(np.float32)[:, None, None] * centers
    ramp_y = (params["gradient"] * np.sin(ga)).astype(np.float32)[:, None, None] * centers[:, None]
    contrast, background = f32("contrast"), f32("background")
    out = img if noise_seed is None else np.empty((n, r, r), np.uint8)
    if noise_seed is not None:
        rng = np.random.default_rng([noise_seed, STREAMS[stream], r])
        sigma = np.float32(NOISE * r / 32)
    per = max(1, 2**18 // (r * r))
    z = np.empty((min(per, n), r, r), np.float32)
    for s in range(0, n, per):
        e = min(n, s + per)
        x = img[s:e]
        x *= contrast[s:e]
        x += background[s:e]
        x += ramp_x[s:e]
        x += ramp_y[s:e]
        if noise_seed is None:
            continue
        zz = z[:e - s]
        rng.standard_normal(dtype=np.float32, out=zz)   # blockwise = one draw: same stream
        zz *= sigma
        x += zz
        np.clip(x, 0, 1, out=x)
        x *= 255
        np.rint(x, out=x)
        out[s:e] = x
    return out


def coverage(params, resolution):
    """Fraction of each pixel covered by its scene's shape: (n, r, r) float32 in [0, 1]."""
    r = int(resolution)
    f = -(-MIN_FINE // r)                 # fine points per pixel side
    g = r * f
    n = len(params["label"])
    cov = np.empty((n, r, r), np.float32)
    fine = (np.arange(g, dtype=np.float32) + 0.5) / g
    per = max(1, _CHUNK // (g * g))
    order = np.argsort(params["label"], kind="stable")     # one class per block
    labels = params["label"][order]
    for lab in np.unique(labels):
        idx = order[labels == lab]
        for s in range(0, len(idx), per):
            b = idx[s:s + per]
            c = _coverage(int(lab), {k: v[b] for k, v in params.items()}, fine, g)
            cov[b] = c.reshape(len(b), r, f, r, f).mean(axis=(2, 4)) if f > 1 else c
    return cov


def _coverage(label, p, fine, g):
    """Fraction of each fine-grid point's square inside the shape: (m, g, g) float32."""
    col = lambda k: p[k].astype(np.float32)[:, None, None]  # noqa: E731
    c, s = np.cos(col("angle")), np.sin(col("angle"))
    sx, sy = col("radius") * col("aspect"), col("radius") / col("aspect")
    dx = fine[None, None, :] - col("cx")                    # (m, 1, g)
    dy = fine[None, :, None] - col("cy")                    # (m, g, 1)
    u = (c * dx + s * dy) / sx                              # local frame: circumradius 1
    v = (c * dy - s * dx) / sy
    d = _sdf(label, u, v)
    # Signed distance in image units (the smaller axis scale keeps strokes honest when stretched).
    scale = col("radius") * np.minimum(col("aspect"), 1 / col("aspect"))
    outline = p["outline"][:, None, None]
    w = col("stroke")
    d = np.where(outline, np.abs(d + w / 2) - w / 2, d)     # onion: a band inside the boundary
    d *= scale * g                                          # in fine-grid widths
    np.subtract(0.5, d, out=d)
    return np.clip(d, 0, 1, out=d)


def _sdf(label, u, v):
    """Signed distance (negative inside) in the shape's local frame; exact near edges, which is
    all the one-point-wide anti-aliasing ramp needs."""
    name = CLASSES[label]
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(au - 1, av - 0.3), np.maximum(au - 0.3, av - 1))
    r = np.sqrt(u * u + v * v)
    if label in _STARS:
        k, rho = _STARS[label]
        beta = np.pi / k
        # Fold the angle into [0, beta]: the wedge between a tip (1, 0) and an inner vertex.
        t = np.arctan2(v, u)
        t *= k / (2 * np.pi)
        t -= np.floor(t + 0.5)
        np.abs(t, out=t)
        t *= 2 * np.pi / k
        qx, qy = r * np.cos(t), r * np.sin(t)
        # Outward normal of the edge from the tip A = (1, 0) to B = rho (cos beta, sin beta).
        nx, ny = rho * np.sin(beta), 1 - rho * np.cos(beta)
        norm = np.hypot(nx, ny)
        return ((qx - 1) * np.float32(nx / norm) + qy * np.float32(ny / norm))
    if name == "disk":
        return r - 1
    if name == "ring":
        return np.abs(r - 0.75) - 0.25
    if name == "crescent":
        return np.maximum(r - 1, 0.8 - np.sqrt((u - 0.4) ** 2 + v * v))
    raise AssertionError(label)  # pragma: no cover


def generate(resolution, n, stream):
    """(x uint8 (n, r, r), y int64) of the fixed dataset's `stream` ("train" or "test")."""
    p = sample_params(n, DATA_SEED, stream)
    return render(p, resolution, noise_seed=DATA_SEED, stream=stream), p["label"]


def source(resolution, n_train, n_test, _int, _fail):
    """The raw arrays behind data.load("shapes", ...)."""
    from . import cache
    r = _int("resolution", DEFAULT_RESOLUTION if resolution is None else resolution, 4, 1024)
    n_tr = _int("n_train", DEFAULT_N_TRAIN if n_train is None else n_train, 10)
    n_te = _int("n_test", DEFAULT_N_TEST if n_test is None else n_test, 1)

    def make():
        x, y = generate(r, n_tr, "train")
        xt, yt = generate(r, n_te, "test")
        return {"x_pool": x, "y_pool": y, "x_test": xt, "y_test": yt}

    d = cache.get(("shapes", r, n_tr, n_te), make)
    return {"x_pool": d["x_pool"], "y_pool": d["y_pool"], "x_test": d["x_test"],
            "y_test": d["y_test"], "in_shape": (1, r, r), "num_classes": NUM_CLASSES,
            "resolution": r, "scale": "0-255", "test_split": "own (separate generator stream)",
            "source": "pybench.data.shapes, rendered offline",
            "generator": {"version": VERSION, "classes": list(CLASSES), "data_seed": DATA_SEED,
                          "fine_grid": r * -(-MIN_FINE // r),
                          "noise_std_per_pixel": NOISE * r / 32,
                          "pixel_format": "uint8"}}


if __name__ == "__main__":  # pragma: no cover
    from .shapes_info import main
    main()
