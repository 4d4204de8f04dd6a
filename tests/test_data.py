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

@pytest.mark.parametrize("name, in_shape", [("mnist1d", (1, 1, 40)), ("digits", (1, 8, 8))])
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


def test_mnist1d_matches_make_dataset_defaults():
    # The defaults are the published 4000 / 1000 split of make_dataset(get_dataset_args()).
    from mnist1d.data import get_dataset_args, make_dataset
    ds = data.load("mnist1d", normalize="raw", val_fraction=0.0, dtype=np.float64)
    state = np.random.get_state()
    ref = make_dataset(get_dataset_args())
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

@pytest.mark.parametrize("name", ["mnist1d", "digits"])
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

@pytest.mark.parametrize("name", ["mnist1d", "digits"])
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
]


@pytest.mark.parametrize("kw, arg", BAD, ids=[f"{k['name']}-{a}-{i}" for i, (k, a) in enumerate(BAD)])
def test_bad_arguments(kw, arg):
    kw = dict(kw)
    name = kw.pop("name")
    with pytest.raises(ValueError, match=rf"^data\.load: {arg}: expected .+, got "):
        data.load(name, **kw)


def test_names():
    assert data.names() == ["mnist1d", "digits", "shapes", "mnist", "fashion_mnist"]
