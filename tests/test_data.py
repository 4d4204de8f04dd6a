"""pybench.data: shapes, dtypes, splits, train-only normalization, no global-RNG side effects,
generated sets (mnist1d, digits, shapes) and IDX files. Generation at small n to stay fast."""

import json
import random

import numpy as np
import pytest

from pybench import data
from pybench.data import split

SMALL = dict(n_train=200, n_test=100)   # mnist1d at this size generates in ~0.2 s


def small(name, **kw):
    base = {"mnist1d": SMALL, "digits": {}, "shapes": dict(n_train=200, n_test=100, resolution=16)}
    return data.load(name, **{**base[name], **kw})


# ---- contract: shapes, dtypes, sizes, meta -----------------------------------------------------

@pytest.mark.parametrize("name, in_shape", [("mnist1d", (1, 1, 40)), ("digits", (1, 8, 8)),
                                            ("shapes", (1, 16, 16))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_dtypes_meta(name, in_shape, dtype):
    ds = small(name, dtype=dtype)
    assert ds.name == name and ds.in_shape == in_shape and ds.num_classes == 10
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.shape == (len(y),) + in_shape
        assert x.dtype == dtype and x.flags.c_contiguous and x.flags.writeable
        assert y.dtype == np.int64 and y.ndim == 1
        assert y.min() >= 0 and y.max() < 10 and np.isfinite(x).all()
    sizes = ds.meta["sizes"]
    assert sizes["train"] + sizes["val"] == sizes["train_pool"]
    assert sizes["val"] == round(0.1 * sizes["train_pool"])
    assert (sizes["train"], sizes["val"], sizes["test"]) == (len(ds.y_train), len(ds.y_val),
                                                             len(ds.y_test))
    assert json.loads(json.dumps(ds.meta)) == ds.meta        # JSON-safe
    assert ds.meta["in_shape"] == list(in_shape) and ds.meta["dtype"] == np.dtype(dtype).name


def test_mnist1d_sizes_and_resolution_knob():
    ds = data.load("mnist1d", n_train=130, n_test=57, resolution=72)
    assert ds.in_shape == (1, 1, 72) and ds.x_train.shape[-1] == 72
    assert (len(ds.y_train) + len(ds.y_val), len(ds.y_test)) == (130, 57)
    assert ds.meta["generator"]["final_seq_length"] == 72
    short = data.load("mnist1d", n_train=130, n_test=57, resolution=20)
    assert short.x_train.shape[-1] == 20
    # Same signals, sampled more or less finely: the labels do not depend on the resolution.
    assert np.array_equal(short.y_test, ds.y_test) and np.array_equal(short.y_train, ds.y_train)


def test_mnist1d_is_make_dataset_output():
    # load() = make_dataset with num_samples = n_train + n_test, cut at n_train; the defaults are
    # the published split (5000 samples, train_split 0.8, seed 42, length 40).
    from mnist1d.data import get_dataset_args, make_dataset
    from pybench.data import mnist1d
    ref_args = get_dataset_args()
    assert (mnist1d.DEFAULT_N_TRAIN, mnist1d.DEFAULT_N_TEST) == (
        int(ref_args.num_samples * ref_args.train_split),
        ref_args.num_samples - int(ref_args.num_samples * ref_args.train_split))
    assert (mnist1d.GENERATOR_SEED, mnist1d.DEFAULT_RESOLUTION) == (ref_args.seed,
                                                                    ref_args.final_seq_length)
    ds = data.load("mnist1d", n_train=400, n_test=100, normalize="raw", val_fraction=0.0,
                   dtype=np.float64)
    ref_args.num_samples, ref_args.train_split = 500, 0.8
    state = np.random.get_state()
    ref = make_dataset(ref_args)
    np.random.set_state(state)
    assert np.array_equal(ds.y_train, ref["y"]) and np.array_equal(ds.y_test, ref["y_test"])
    lo, hi = ref["x"].min(), ref["x"].max()
    np.testing.assert_allclose(ds.x_test[:, 0, 0], (ref["x_test"] - lo) * 255 / (hi - lo),
                               rtol=1e-12, atol=1e-9)


def test_no_global_rng_side_effects():
    data.cache.clear()                       # force a fresh generation
    np.random.seed(123)
    random.seed(456)
    np_before, py_before = np.random.get_state(), random.getstate()
    data.load("mnist1d", n_train=60, n_test=20)
    data.load("digits")
    data.load("shapes", n_train=30, n_test=10, resolution=8)
    np_after = np.random.get_state()
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
               for a, b in zip(np_before, np_after))
    assert random.getstate() == py_before


def test_cache_is_protected_and_fast_path_identical():
    a = small("mnist1d", normalize="raw")
    a.x_train[:] = -1.0                      # the caller owns its arrays
    a.y_train[:] = 0
    b = small("mnist1d", normalize="raw")
    assert b.x_train.min() >= 0 and len(np.unique(b.y_train)) == 10


# ---- splits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist1d", "digits", "shapes"])
def test_splits_deterministic_and_disjoint(name):
    a, b = small(name, seed=3), small(name, seed=3)
    for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert a.meta == b.meta
    c = small(name, seed=4)
    assert not np.array_equal(a.y_val, c.y_val) or not np.array_equal(a.x_val, c.x_val)
    # Disjoint: no sample (as raw bytes) appears in two splits; generated samples are distinct.
    r = small(name, seed=3, normalize="raw", dtype=np.float64)
    keys = [{row.tobytes() for row in x.reshape(len(x), -1)} for x in (r.x_train, r.x_val, r.x_test)]
    assert sum(map(len, keys)) == len(r.y_train) + len(r.y_val) + len(r.y_test) or name == "digits"
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_carve_indices():
    rest, got = split.carve(50, 7, seed=1, salt=1)
    assert len(got) == 7 and len(rest) == 43
    assert sorted(np.concatenate([rest, got]).tolist()) == list(range(50))
    assert np.array_equal(got, split.carve(50, 7, seed=1, salt=1)[1])
    assert not np.array_equal(got, split.carve(50, 7, seed=1, salt=0)[1])


def test_val_fraction_zero_gives_empty_val():
    ds = small("digits", val_fraction=0.0)
    assert ds.x_val.shape == (0, 1, 8, 8) and ds.y_val.shape == (0,)
    assert len(ds.y_train) == ds.meta["sizes"]["train_pool"]


def test_digits_sizes_and_subset():
    full = data.load("digits", seed=1)
    assert len(full.y_train) + len(full.y_val) + len(full.y_test) == 1797
    sub = data.load("digits", seed=1, n_train=100, n_test=50)
    assert len(sub.y_train) + len(sub.y_val) == 100 and len(sub.y_test) == 50


# ---- normalization ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist1d", "digits", "shapes"])
def test_standard_is_fitted_on_train_split(name):
    ds = small(name, dtype=np.float64)
    raw = small(name, dtype=np.float64, normalize="raw")
    # Recompute the map from the raw training split alone; apply it to all three splits.
    rt = raw.x_train.reshape(len(raw.x_train), -1)
    mean, s, pooled = rt.mean(0), rt.std(0), rt.std()
    floored = s < split.STD_FLOOR * pooled
    s = np.where(floored, pooled, s)
    assert ds.meta["normalization"]["floored_features"] == floored.sum()
    for a, r in ((ds.x_train, raw.x_train), (ds.x_val, raw.x_val), (ds.x_test, raw.x_test)):
        np.testing.assert_allclose(a.reshape(len(a), -1), (r.reshape(len(r), -1) - mean) / s,
                                   rtol=1e-9, atol=1e-9)
    xt = ds.x_train.reshape(len(ds.x_train), -1)
    np.testing.assert_allclose(xt.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(xt.std(0)[~floored], 1, rtol=1e-9)


def test_standardize_ignores_val_and_test():
    rng = np.random.default_rng(0)
    xtr, xva, xte = rng.normal(3, 2, (50, 6)), rng.normal(size=(9, 6)), rng.normal(size=(7, 6))
    (a_tr, a_va, _), s1 = split.standardize(xtr, (xva, xte), np.float64)
    (b_tr, b_va, _), s2 = split.standardize(xtr, (xva * 100 + 5, xte * 0), np.float64)
    assert np.array_equal(a_tr, b_tr) and s1 == s2
    np.testing.assert_allclose(a_va, (xva - xtr.mean(0)) / xtr.std(0), rtol=1e-9)
    np.testing.assert_allclose(b_va, (xva * 100 + 5 - xtr.mean(0)) / xtr.std(0), rtol=1e-9)


def test_near_zero_variance_features_stay_finite_and_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(100, 30, (40, 3, 3))
    x[:, 0, 0] = 7.0                         # constant pixel
    x[:, 1, 1] = 7.0 + 1e-12 * rng.normal(size=40)   # near-constant pixel
    test = x[:5].copy()
    test[:, 0, 0] = 9.0                      # varies in test only
    (tr, te), stats = split.standardize(x, (test,), np.float32)
    assert np.isfinite(tr).all() and np.isfinite(te).all()
    assert np.all(tr[:, 0, 0] == 0) and np.abs(tr[:, 1, 1]).max() < 1e-6
    assert stats["floored_features"] == 2
    # Divided by the pooled std, not by ~0: stays on the scale of the other features.
    np.testing.assert_allclose(te[:, 0, 0], 2.0 / stats["pooled_std"], rtol=1e-6)
    (c,), _ = split.standardize(np.full((4, 2), 3.0), (), np.float64)   # all constant
    assert np.array_equal(c, np.zeros((4, 2)))


@pytest.mark.parametrize("name", ["mnist1d", "digits"])
def test_raw_scale_maps_train_split_to_0_255(name):
    ds = small(name, normalize="raw")
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 255.0
    assert ds.meta["normalization"]["kind"] == "raw"
    assert -40 < ds.x_test.min() and ds.x_test.max() < 300   # same map; may spill a little


def test_digits_raw_is_sixteen_levels_scaled():
    ds = data.load("digits", normalize="raw", dtype=np.float64)
    levels = np.unique(ds.x_train)
    np.testing.assert_allclose(levels, np.arange(17) * 255 / 16)


# ---- bad arguments ---------------------------------------------------------------------------

BAD = [
    (dict(name="cifar"), "name"),
    (dict(name="mnist1d", resolution=0), "resolution"),
    (dict(name="mnist1d", resolution=40.0), "resolution"),
    (dict(name="mnist1d", resolution=True), "resolution"),
    (dict(name="digits", resolution=16), "resolution"),
    (dict(name="shapes", resolution=2), "resolution"),
    (dict(name="shapes", resolution="32"), "resolution"),
    (dict(name="shapes", n_train=3), "n_train"),
    (dict(name="mnist1d", n_train=5), "n_train"),
    (dict(name="mnist1d", n_train=-1), "n_train"),
    (dict(name="mnist1d", n_test=0), "n_test"),
    (dict(name="digits", n_train=1700, n_test=360), "n_train"),
    (dict(name="digits", n_test=5000), "n_test"),
    (dict(name="mnist1d", val_fraction=1.0), "val_fraction"),
    (dict(name="mnist1d", val_fraction=-0.1), "val_fraction"),
    (dict(name="mnist1d", val_fraction="0.1"), "val_fraction"),
    (dict(name="digits", n_train=10, val_fraction=0.96), "val_fraction"),
    (dict(name="mnist1d", normalize="minmax"), "normalize"),
    (dict(name="mnist1d", normalize=None), "normalize"),
    (dict(name="mnist1d", dtype=np.int32), "dtype"),
    (dict(name="mnist1d", dtype="float16"), "dtype"),
    (dict(name="mnist1d", seed=-1), "seed"),
    (dict(name="mnist1d", seed=1.5), "seed"),
    (dict(name="digits", path="/tmp"), "path"),
    (dict(name="mnist"), "path"),
    (dict(name="fashion_mnist"), "path"),
]


@pytest.mark.parametrize("kw, arg", BAD, ids=[f"{k['name']}-{a}-{i}" for i, (k, a) in enumerate(BAD)])
def test_bad_arguments(kw, arg):
    kw = dict(kw)
    name = kw.pop("name")
    with pytest.raises(ValueError, match=rf"^data\.load: {arg}: expected .+, got "):
        data.load(name, **kw)


def test_names():
    assert data.names() == ["mnist1d", "digits", "shapes", "mnist", "fashion_mnist"]


# ---- shapes --------------------------------------------------------------------------------------

from pybench.data import idx, shapes  # noqa: E402


def test_shapes_labels_balanced_and_nested():
    p = shapes.sample_params(1003)
    counts = np.bincount(p["label"], minlength=10)
    assert counts.min() == 100 and counts.max() == 101        # every block of 10 holds each class
    q = shapes.sample_params(37)
    for k in p:                                               # smaller sets are prefixes
        assert np.array_equal(p[k][:37], q[k]), k
    t = shapes.sample_params(37, stream="test")
    assert not np.array_equal(t["cx"], q["cx"])               # train and test streams differ
    ds = data.load("shapes", n_train=300, n_test=100, resolution=8)
    assert np.array_equal(np.bincount(ds.y_test, minlength=10), np.full(10, 10))


def test_shapes_deterministic_and_prefix_stable():
    p = shapes.sample_params(25)
    a = shapes.render(p, 24, noise_seed=0)
    assert a.dtype == np.uint8 and a.shape == (25, 24, 24)
    assert np.array_equal(a, shapes.render(p, 24, noise_seed=0))
    head = {k: v[:9] for k, v in p.items()}
    assert np.array_equal(a[:9], shapes.render(head, 24, noise_seed=0))   # noise stream too
    assert not np.array_equal(a, shapes.render(p, 24, noise_seed=1))


def box(x, f):
    n, r, _ = x.shape
    return x.reshape(n, r // f, f, r // f, f).mean(axis=(2, 4))


def test_shapes_geometry_is_resolution_invariant():
    p = shapes.sample_params(40)
    i16 = shapes.render(p, 16)
    # Same fine grid: a 16 px image is exactly the box-average of the 64 px one.
    np.testing.assert_allclose(box(shapes.render(p, 64), 4), i16, atol=2e-6)
    # A finer grid (128 px renders on its own 128 x 128 grid): still the same scenes.
    diff = np.abs(box(shapes.render(p, 128), 8) - i16)
    assert diff.mean() < 2e-3 and diff.max() < 0.03
    # ...while another sample's scene is far away.
    assert np.abs(i16[1:] - i16[:-1]).mean() > 20 * diff.mean()


def test_shapes_noise_model():
    # Pixel noise std is NOISE * r / 32: averaging a 64 px image to 8 px gives the 8 px level.
    p = shapes.sample_params(200)
    for r in (8, 32, 64):
        clean = shapes.render(p, r) * 255
        noisy = shapes.render(p, r, noise_seed=3).astype(np.float64)
        inside = (clean > 40) & (clean < 200)       # away from clipping
        np.testing.assert_allclose((noisy - clean)[inside].std(), 255 * shapes.NOISE * r / 32,
                                   rtol=0.05)
    down = box(shapes.render(p, 64, noise_seed=3).astype(np.float64), 8)
    np.testing.assert_allclose((down - shapes.render(p, 8) * 255).std(),
                               255 * shapes.NOISE * 8 / 32, rtol=0.1)


def _lens(d, r1, r2):
    a = r1 ** 2 * np.arccos((d * d + r1 * r1 - r2 * r2) / (2 * d * r1))
    b = r2 ** 2 * np.arccos((d * d + r2 * r2 - r1 * r1) / (2 * d * r2))
    return a + b - 0.5 * np.sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))


def _star(k, rho):
    return k * rho * np.sin(np.pi / k)


AREAS = {"triangle": _star(3, 0.5), "square": 2.0, "pentagon": _star(5, np.cos(np.pi / 5)),
         "hexagon": 3 * np.sqrt(3) / 2, "disk": np.pi, "ring": np.pi * 0.75,
         "star": _star(5, 0.45), "cross": 2.04, "gear": _star(8, 0.78),
         "crescent": np.pi - _lens(0.4, 1.0, 0.8)}


def test_shapes_filled_areas_match_geometry():
    # Filled shapes: covered pixels (area coverage) = area in units of the circumradius^2
    # (the aspect stretch preserves area). Checks each class's geometry and the anti-aliasing.
    p = shapes.sample_params(200)
    cov = shapes.coverage(p, 64).sum(axis=(1, 2)) / 64 ** 2
    filled = ~p["outline"]
    for c, name in enumerate(shapes.CLASSES):
        m = filled & (p["label"] == c)
        assert m.sum() >= 3, name
        np.testing.assert_allclose(cov[m] / p["radius"][m] ** 2, AREAS[name], rtol=0.03,
                                   err_msg=name)
    outline = p["outline"] & (p["label"] == shapes.CLASSES.index("disk"))
    # Outlined disk: an annulus of width stroke * radius inside the boundary.
    s = p["stroke"][outline]
    np.testing.assert_allclose(cov[outline] / p["radius"][outline] ** 2,
                               np.pi * (1 - (1 - s) ** 2), rtol=0.05)


def test_shapes_load_is_raw_uint8_scale():
    ds = data.load("shapes", n_train=50, n_test=20, resolution=12, normalize="raw")
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    assert x.shape[1:] == (1, 12, 12) and np.array_equal(x, np.rint(x))
    assert 0 <= x.min() and x.max() <= 255 and x.max() > 100
    assert ds.meta["generator"]["noise_std_per_pixel"] == shapes.NOISE * 12 / 32


@pytest.mark.slow
def test_shapes_more_pixels_more_information():
    from pybench.data import shapes_info
    rows = {r["input"]: r["accuracy"]
            for r in shapes_info.information((8, 64), n_train=3000, n_test=1000)}
    acc8, acc64 = rows["8 px"], rows["64 px"]
    assert 0.15 < acc8 < acc64 - 0.2
    assert rows["8 px upsampled to 64 px, bilinear"] < acc64 - 0.15
    assert rows["8 px upsampled to 64 px, replicated"] < acc64 - 0.15


# ---- IDX -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 5) * 7 % 23 - (0 if dtype == "u1" else 11)).astype(dtype)
    for shape in [(30,), (2, 15), (2, 3, 5)]:
        f = tmp_path / f"a{len(shape)}{suffix}"
        idx.write_idx(f, a.reshape(shape))
        b = idx.read_idx(f)
        assert b.dtype == np.dtype(dtype) and b.shape == shape and np.array_equal(b, a.reshape(shape))


def test_idx_header_bytes(tmp_path):
    f = tmp_path / "x"
    idx.write_idx(f, np.zeros((2, 3, 4), np.uint8))
    raw = f.read_bytes()
    assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]) and len(raw) == 40
    idx.write_idx(f, np.array([1, 2], np.int32))
    assert f.read_bytes() == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2])


CORRUPT = [
    (lambda raw: raw[:3], "4-byte header"),
    (lambda raw: b"\x01" + raw[1:], "magic"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "dtype code"),
    (lambda raw: raw[:3] + b"\x00" + raw[4:], "at least 1 dimension"),
    (lambda raw: raw[:10], "dimension sizes"),
    (lambda raw: raw[:-1], "data bytes"),
    (lambda raw: raw + b"\x00", "data bytes"),
    (lambda raw: raw[:7] + b"\x09" + raw[8:], "data bytes"),     # first dim 2 -> 9
]


@pytest.mark.parametrize("corrupt, fragment", CORRUPT)
def test_idx_corrupted_files(tmp_path, corrupt, fragment):
    f = tmp_path / "bad-idx3-ubyte"
    idx.write_idx(f, np.ones((2, 3, 4), np.uint8))
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(ValueError, match=fragment) as e:
        idx.read_idx(f)
    assert str(f) in str(e.value)


def test_idx_broken_gzip(tmp_path):
    f = tmp_path / "bad.gz"
    f.write_bytes(b"this is not gzip data")
    with pytest.raises(ValueError, match="bad.gz"):
        idx.read_idx(f)
    with pytest.raises(FileNotFoundError):
        idx.read_idx(tmp_path / "missing")


def write_mnist(d, n=(40, 15), hw=(6, 5), gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "t10k"), n):
        x = rng.integers(0, 256, (count,) + hw, dtype=np.uint8)
        y = (np.arange(count) % 10).astype(np.uint8)
        s = ".gz" if gz else ""
        idx.write_idx(d / f"{split}-images-idx3-ubyte{s}", x)
        idx.write_idx(d / f"{split}-labels-idx1-ubyte{s}", y)
        arrays[split] = (x, y)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_load_idx_dataset(tmp_path, name, gz):
    arr = write_mnist(tmp_path, gz=gz)
    ds = data.load(name, path=tmp_path, normalize="raw", val_fraction=0.25, seed=5)
    assert ds.in_shape == (1, 6, 5) and ds.num_classes == 10
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (30, 10, 15)
    np.testing.assert_array_equal(ds.x_test[:, 0], arr["t10k"][0])        # as stored, 0-255
    np.testing.assert_array_equal(ds.y_test, arr["t10k"][1])
    pool = np.concatenate([ds.x_train, ds.x_val])[:, 0].astype(np.uint8)
    assert sorted(map(bytes, pool)) == sorted(map(bytes, arr["train"][0]))
    assert ds.meta["split"]["test"].startswith("own") and json.dumps(ds.meta)
    std = data.load(name, path=str(tmp_path), n_train=20, n_test=4, resolution=None)
    assert (len(std.y_train) + len(std.y_val), len(std.y_test)) == (20, 4)
    np.testing.assert_allclose(std.x_train.reshape(len(std.x_train), -1).mean(0), 0, atol=1e-5)


def test_load_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        data.load("mnist", path=tmp_path / "nowhere")
    write_mnist(tmp_path)
    with pytest.raises(ValueError, match="data.load: resolution: expected None or 6"):
        data.load("mnist", path=tmp_path, resolution=28)
    with pytest.raises(ValueError, match="data.load: n_train: expected an int in"):
        data.load("mnist", path=tmp_path, n_train=41)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*nothing is downloaded"):
        data.load("mnist", path=tmp_path)
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(14, np.uint8))  # 15 images
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: expected 15 labels"):
        data.load("mnist", path=tmp_path)
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(15, 10, np.uint8))
    with pytest.raises(ValueError, match="labels in 0..9"):
        data.load("mnist", path=tmp_path)


def test_load_idx_dotted_names(tmp_path):
    write_mnist(tmp_path)
    for p in tmp_path.iterdir():
        p.rename(tmp_path / p.name.replace("-idx", ".idx"))
    assert data.load("mnist", path=tmp_path).in_shape == (1, 6, 5)
