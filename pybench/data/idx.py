"""IDX files (LeCun's MNIST format, also Fashion-MNIST), optionally gzip-compressed.

Layout: 2 zero bytes, a dtype code, the number of dimensions d; then d big-endian uint32 sizes;
then the data, row-major, big-endian. `read_idx` checks all of it and names the file in every
error. `data.load("mnist" | "fashion_mnist", path=DIR)` reads the four standard files from DIR;
nothing is ever downloaded.
"""

import gzip
import os

import numpy as np

# dtype code -> big-endian NumPy dtype
DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}

# The four files, each accepted as NAME, NAME.gz, or with '.' before idx (a common re-upload).
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def read_idx(path):
    """The array stored in IDX file `path` (.gz decompressed), in native byte order."""
    path = os.fspath(path)
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:      # a broken .gz raises BadGzipFile (an OSError) / EOFError
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"read_idx: {path}: expected a readable (gzip) IDX file, got {e}") from e
    if len(raw) < 4:
        _bad(path, "at least a 4-byte header", f"{len(raw)} bytes")
    if raw[0] != 0 or raw[1] != 0:
        _bad(path, "magic starting with two zero bytes", f"{raw[:4].hex()}")
    code, ndim = raw[2], raw[3]
    if code not in DTYPES:
        _bad(path, f"dtype code one of {[hex(c) for c in DTYPES]}", hex(code))
    if ndim < 1:
        _bad(path, "at least 1 dimension", ndim)
    head = 4 + 4 * ndim
    if len(raw) < head:
        _bad(path, f"{ndim} dimension sizes ({head} header bytes)", f"{len(raw)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dt = DTYPES[code]
    want = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(raw) - head != want:
        _bad(path, f"{want} data bytes for shape {dims} of {dt.newbyteorder('=').name}",
             f"{len(raw) - head} bytes")
    return np.frombuffer(raw, dt, offset=head).reshape(dims).astype(dt.newbyteorder("="))


def write_idx(path, array):
    """Write `array` as an IDX file (gzip-compressed if path ends with .gz)."""
    a = np.asarray(array)
    code = _CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: array: expected dtype one of "
                         f"{sorted(d.name for d in _CODES)}, got {a.dtype}")
    head = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    body = np.ascontiguousarray(a, DTYPES[code]).tobytes()
    with (gzip.open if os.fspath(path).endswith(".gz") else open)(path, "wb") as f:
        f.write(head + body)


def find(path, stem):
    """The existing file for `stem` under directory `path`, or FileNotFoundError naming it."""
    names = [stem, stem + ".gz"]
    dotted = stem.replace("-idx", ".idx")
    names += [dotted, dotted + ".gz"]
    for n in names:
        p = os.path.join(path, n)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"data.load: path: no {stem} (or {stem}.gz) in {path!r}; the IDX "
                            "files are read from path as given, nothing is downloaded")


def read_set(path):
    """The four arrays under `path`, checked against each other."""
    files = {k: find(path, stem) for k, stem in FILES.items()}
    a = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        x, y = a[f"{split}_images"], a[f"{split}_labels"]
        fx, fy = files[f"{split}_images"], files[f"{split}_labels"]
        if x.ndim != 3 or x.dtype != np.uint8:
            _bad(fx, "uint8 images of shape (N, H, W)", f"{x.dtype} {x.shape}")
        if y.ndim != 1 or y.dtype != np.uint8:
            _bad(fy, "uint8 labels of shape (N,)", f"{y.dtype} {y.shape}")
        if len(x) != len(y):
            _bad(fy, f"{len(x)} labels (one per image in {os.path.basename(fx)})", len(y))
        if len(y) and y.max() > 9:
            _bad(fy, "labels in 0..9", int(y.max()))
    if a["train_images"].shape[1:] != a["test_images"].shape[1:]:
        _bad(files["test_images"], f"images of {a['train_images'].shape[1:]} like the train set",
             a["test_images"].shape[1:])
    return {"x": a["train_images"], "y": a["train_labels"].astype(np.int64),
            "x_test": a["test_images"], "y_test": a["test_labels"].astype(np.int64),
            "files": {k: os.path.abspath(p) for k, p in files.items()}}


def source(name, path, resolution, n_train, n_test, seed, _int, _fail):
    """The raw arrays behind data.load("mnist" | "fashion_mnist", path=DIR)."""
    from . import cache
    if path is None:
        _fail("path", f"the directory holding the {name} IDX files ({', '.join(FILES.values())}, "
              "each optionally .gz); nothing is downloaded", path)
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data.load: path: no directory {path!r} (the {name} IDX files "
                                "are read from path as given, nothing is downloaded)")
    files = [find(path, stem) for stem in FILES.values()]
    key = (name, tuple((os.path.realpath(p), os.stat(p).st_mtime_ns, os.stat(p).st_size)
                       for p in files))
    d = cache.get(key, lambda: read_set(path))
    h, w = d["x"].shape[1:]
    if resolution is not None and not (_is_int(resolution) and resolution == h == w):
        _fail("resolution", f"None or {h} for {name!r} (the files' {h}x{w} images; "
              "no resampling)", resolution)
    n_file = len(d["y"])
    n_tr = _int("n_train", n_file if n_train is None else n_train, min(10, n_file), n_file)
    n_te = _int("n_test", len(d["y_test"]) if n_test is None else n_test, 1, len(d["y_test"]))
    # A smaller training pool is a seeded subset; the test set is the file's first n_test.
    pool = slice(None) if n_tr == n_file else np.sort(
        np.random.default_rng([seed, 2]).permutation(n_file)[:n_tr])
    return {"x_pool": d["x"][pool], "y_pool": d["y"][pool], "x_test": d["x_test"][:n_te],
            "y_test": d["y_test"][:n_te], "in_shape": (1, h, w), "num_classes": 10,
            "resolution": h if h == w else [h, w], "scale": "0-255",
            "test_split": "own (t10k files)",
            "source": f"IDX files under {os.path.abspath(path)}",
            "generator": {"files": d["files"], "train_in_files": n_file,
                          "test_in_files": int(len(d["y_test"]))}}


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _bad(path, expected, got):
    raise ValueError(f"read_idx: {path}: expected {expected}, got {got}")
