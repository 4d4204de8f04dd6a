"""MNIST-1D (Greydanus & Kashyap 2020) generated offline with the `mnist1d` package's published
generator, `mnist1d.data.make_dataset`. Its `get_dataset` downloads first (no timeout) and is
never called here.

The resolution knob is the generator's `final_seq_length` (default 40, the published set): each
signal is built at the template's length and linearly interpolated to that many samples last, so
a longer sequence samples the same underlying curve more finely.

make_dataset seeds NumPy's and Python's *global* RNGs (`mnist1d.utils.set_seed`) and draws from
them; `generate` saves both states and restores them afterwards, so loading MNIST-1D has no side
effect on the caller's random streams.
"""

import random

import numpy as np

DEFAULT_RESOLUTION = 40
DEFAULT_N_TRAIN = 4000     # the published split: 5000 samples, train_split 0.8
DEFAULT_N_TEST = 1000
GENERATOR_SEED = 42        # the published set's seed; `load`'s seed only decides the splits
NUM_CLASSES = 10


def generate(resolution, n_train, n_test):
    """Generate n_train + n_test signals of length `resolution`.

    Returns dict(x_pool (n_train, L) float64, y_pool, x_test (n_test, L), y_test, args).
    make_dataset draws num_samples // 10 signals per class, so it is asked for the total rounded
    up to a multiple of 10 and its output (already shuffled) is cut at n_train and n_test. With the
    defaults this is exactly the published 4000 / 1000 split.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imports scipy, matplotlib: lazily

    total = n_train + n_test
    num_samples = -(-total // NUM_CLASSES) * NUM_CLASSES
    args = get_dataset_args(as_dict=False)
    args.final_seq_length = int(resolution)
    args.num_samples = int(num_samples)
    args.train_split = n_train / num_samples
    args.seed = GENERATOR_SEED
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    # Re-join make_dataset's split (its int(len * train_split) may round n_train down by one).
    x = np.concatenate([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    gen_args = {k: v for k, v in vars(args).items() if k != "url"}
    gen_args["padding"] = [int(p) for p in gen_args["padding"]]
    return {
        "x_pool": np.ascontiguousarray(x[:n_train]), "y_pool": np.ascontiguousarray(y[:n_train]),
        "x_test": np.ascontiguousarray(x[n_train:total]),
        "y_test": np.ascontiguousarray(y[n_train:total]),
        "args": gen_args,
    }


def version():
    try:
        from importlib.metadata import version as v
        return v("mnist1d")
    except Exception:  # pragma: no cover - metadata missing in an odd install
        return "unknown"
