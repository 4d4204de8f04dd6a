"""Measure how much class information the "shapes" images carry at each resolution.

    python -m pybench.data.shapes --info [--n-train 10000] [--n-test 2000] [--pixels]

The same scenes (same seed) are rendered at 8, 16, 32 and 64 px and classified by one fixed
recipe. It must tolerate the scenes' random position and rotation, which a linear model on raw
pixels does not (`--pixels` shows that: near chance at every resolution). Features: the Fourier
magnitude (translation-invariant) of the image minus its best-fitting plane, sampled on a polar
grid, and the magnitudes of its angular harmonics at each radius (rotation-invariant):
log(1 + |harmonic|) for radii 1 .. r/2 - 1 cycles per image, harmonics 0 .. 16. Classifier: least
squares on one-hot labels with a small ridge, on features standardized with training statistics.

Control rows: 8 px images upsampled to 64 px (bilinear, and pixel replication): the same 64 x 64
input size and pipeline as the 64 px row but no new information, being fixed functions of the
8 px images; and 64 px renderings box-averaged down to 8 px, which the noise model makes
distributed like native 8 px renderings. Accuracy is a lower bound on what the pixels carry: the
upsampled rows beat native 8 px only because the 64 px feature set describes the same 8 px
information more richly, not because upsampling adds any.
"""

import argparse
import time

import numpy as np

from . import shapes

ANGLES = 64     # polar samples per radius over a half turn (|F| is centrally symmetric)
HARMONICS = 17
RIDGE = 1e-3


def features(x):
    """(n, r, r) images (0-255) -> (n, (r/2 - 1) * 17) rotation/translation-invariant features."""
    return np.concatenate([_spectral(x[s:s + 1000].astype(np.float32) / 255)   # bounded blocks
                           for s in range(0, len(x), 1000)])


def _spectral(b):
    n, r, _ = b.shape
    c = ((np.arange(r) + 0.5) / r - 0.5).astype(np.float32)
    # Remove each image's best plane (background level and ramp): the periodic FFT would
    # otherwise see the ramp's wrap-around edge.
    basis = np.stack([np.ones(r * r, np.float32), np.repeat(c, r), np.tile(c, r)], 1)
    coef = np.linalg.lstsq(basis, b.reshape(n, -1).T, rcond=None)[0]
    b = b - (basis @ coef).T.reshape(n, r, r)
    mag = np.abs(np.fft.rfft2(b))                          # (n, r, r // 2 + 1), kx >= 0 half
    rad = np.arange(1, r // 2, dtype=np.float64)[:, None]
    phi = np.arange(ANGLES) * np.pi / ANGLES - np.pi / 2   # kx = rho cos(phi) >= 0
    ky, kx = rad * np.sin(phi), rad * np.cos(phi)
    y0, x0 = np.floor(ky).astype(int), np.floor(kx).astype(int)
    wy, wx = (ky - y0).astype(np.float32), (kx - x0).astype(np.float32)
    at = lambda yy, xx: mag[:, yy % r, np.minimum(xx, r // 2)]  # noqa: E731 - ky wraps
    polar = (at(y0, x0) * (1 - wy) * (1 - wx) + at(y0 + 1, x0) * wy * (1 - wx)
             + at(y0, x0 + 1) * (1 - wy) * wx + at(y0 + 1, x0 + 1) * wy * wx)
    # Over a half turn, harmonic m of the half-turn period is angular order 2m of |F|.
    h = np.abs(np.fft.rfft(polar, axis=2))[:, :, :HARMONICS]
    return np.log1p(h).reshape(n, -1)


def fit_predict(f_train, y_train, f_test):
    """Ridge least squares on one-hot targets, features standardized on the training set."""
    mean, std = f_train.mean(0), f_train.std(0) + 1e-6
    a = np.hstack([(f_train - mean) / std, np.ones((len(f_train), 1))])
    b = np.hstack([(f_test - mean) / std, np.ones((len(f_test), 1))])
    target = np.eye(shapes.NUM_CLASSES)[y_train]
    w = np.linalg.solve(a.T @ a + RIDGE * len(a) * np.eye(a.shape[1]), a.T @ target)
    return np.argmax(b @ w, axis=1)


def information(resolutions=(8, 16, 32, 64), n_train=10000, n_test=2000, pixels=False):
    """Test accuracy of the fixed classifier per input variant: a list of dict rows."""
    p_tr = shapes.sample_params(n_train, stream="train")
    p_te = shapes.sample_params(n_test, stream="test")
    y_tr, y_te = p_tr["label"], p_te["label"]
    rendered, rows = {}, []

    def row(label, x_tr, x_te, feat=features):
        t = time.perf_counter()
        acc = float(np.mean(fit_predict(feat(x_tr), y_tr, feat(x_te)) == y_te))
        rows.append({"input": label, "accuracy": acc, "seconds": time.perf_counter() - t})

    for r in resolutions:
        t = time.perf_counter()
        rendered[r] = (shapes.render(p_tr, r, noise_seed=0, stream="train"),
                       shapes.render(p_te, r, noise_seed=0, stream="test"))
        render_s = time.perf_counter() - t
        row(f"{r} px", *rendered[r])
        rows[-1]["render_seconds"] = render_s
    if 8 in rendered and 64 in rendered:
        from scipy.ndimage import zoom
        bilinear = lambda x: np.rint(np.clip(zoom(x.astype(np.float32), (1, 8, 8), order=1,  # noqa
                                                  grid_mode=True, mode="nearest"), 0, 255))
        replicate = lambda x: np.repeat(np.repeat(x, 8, axis=1), 8, axis=2)  # noqa: E731
        down = lambda x: np.rint(x.reshape(len(x), 8, 8, 8, 8).mean(axis=(2, 4)))  # noqa: E731
        row("8 px upsampled to 64 px, bilinear", *(bilinear(x) for x in rendered[8]))
        row("8 px upsampled to 64 px, replicated", *(replicate(x) for x in rendered[8]))
        row("64 px box-averaged to 8 px", *(down(x) for x in rendered[64]))
    if pixels:
        flat = lambda x: x.reshape(len(x), -1).astype(np.float32)  # noqa: E731
        for r in resolutions:
            row(f"{r} px, linear on raw pixels", *rendered[r], feat=flat)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pybench.data.shapes",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", action="store_true", help="run the information measurement")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--pixels", action="store_true", help="also a linear model on raw pixels")
    a = ap.parse_args(argv)
    if not a.info:
        ap.print_help()
        return
    print(f"shapes: {a.n_train} train / {a.n_test} test scenes, chance = 0.100")
    for r in information(n_train=a.n_train, n_test=a.n_test, pixels=a.pixels):
        extra = f"  render {r['render_seconds']:.1f} s" if "render_seconds" in r else ""
        print(f"{r['input']:<36} accuracy {r['accuracy']:.3f}  ({r['seconds']:.1f} s){extra}")
