"""`pybench bench --network/--mb` (real networks' layers), the calibration cache, the CuPy hook.

Fast: tiny networks in temp files, --quick budgets, calibration figures faked where their
value does not matter. Nothing asserts a speed.
"""

import json
import os

import pytest

from pybench import nn, ops
from pybench.bench import calibrate, cases_compute, env, networks as N, problems as P
from pybench.cli import main

FAST = ["--quick", "--repeat-seconds", "0.02"]


@pytest.fixture(autouse=True)
def cal_path(tmp_path, monkeypatch):
    """Every test has its own calibration cache path (never the user's)."""
    path = tmp_path / "cache" / "calibration.json"
    monkeypatch.setenv("PYBENCH_CALIBRATION", str(path))
    return path


def _fake_calibration(peak=100.0, copy=10.0, **machine_changes):
    m = dict(calibrate.machine(), **machine_changes)
    return {"schema": calibrate.SCHEMA, "machine": m, "threads": 2, "quick": False, "measured_at": "then",
            "gemm_peak_gflops": peak, "gemm_peak_size": 2048, "gemm": [], "copy_gbs": copy,
            "copy": {"elements": 1 << 25}}


def _bench(capsys, *args):
    rc = main(["bench", *FAST, *args])
    out, err = capsys.readouterr()
    return rc, out, err


TINY = """
name = "tiny"
source = "made up for the tests"
description = "one of each entry kind"
batch = 3
real_batch = 64

[[conv2d]]
name = "stem"
c = 3
h = 9
w = 7
k = 5
kernel = 3
stride = 2
padding = 1
count = 2
compute_dx = false

[[conv2d]]
name = "body"
c = 4
h = 6
w = 6
k = 4
kernel = 1
count = 3

[[linear]]
name = "fc"
in = 20
out = 7

[[gemm]]
m = 13
n = 5
k = 11
trans_a = true

[[gemm]]
m = 6
n = 17
k = 9
trans_b = true
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return str(p)


# ----------------------------------------------------------------------------------------------
# the built-in networks
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet50", "vgg16", "deepbench-gemm", "pybench-mlp", "pybench-cnn"])
def test_builtin_networks_parse_and_name_their_source(name):
    assert name in N.names()
    net = N.load(name)
    assert net.name == name and len(net.source) > 20 and net.description
    probs = P.problems_from_network(net)
    assert probs and all(p.kind == "compute" and p.work > 0 for p in probs)
    assert all(p.params["shape_list"] == name for p in probs)


def test_resnet50_is_every_conv_layer():
    net = N.load("resnet50")
    convs = [e for k, e in net.entries if k == "conv2d"]
    assert len(convs) == 23 and sum(e["count"] for e in convs) == 53  # 1 + 16*3 + 4 shortcuts
    macs = sum(e["count"] * e["k"] * e["c"] * e["kernel"] ** 2 * ((e["h"] + 2 * e["padding"] - e["kernel"])
                                                                 // e["stride"] + 1) ** 2 for e in convs)
    assert abs(macs / 1e9 - 4.09) < 0.01  # ResNet-50's ~4.1 GMAC per 224x224 image (convs only)
    assert net.batch == 8 and net.real_batch == 256
    first = convs[0]
    got = tuple(first[f] for f in ("c", "h", "k", "kernel", "stride", "padding"))
    assert got == (3, 224, 64, 7, 2, 3)
    assert first["compute_dx"] is False and all(e["compute_dx"] for e in convs[1:])
    assert all(len(e["name"]) > 0 for e in convs)


def test_vgg16_has_its_13_convs():
    convs = [e for k, e in N.load("vgg16").entries if k == "conv2d"]
    assert len(convs) == 13 and all(e["kernel"] == 3 and e["padding"] == 1 and e["stride"] == 1 for e in convs)
    assert [e["k"] for e in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def test_deepbench_cites_its_source_and_has_no_batch():
    net = N.load("deepbench-gemm")
    assert "DeepBench training GEMM set, Baidu Research" in net.source
    gemms = [e for k, e in net.entries if k == "gemm"]
    assert len(gemms) >= 12 and {(e["trans_a"], e["trans_b"]) for e in gemms} == {(False, False), (True, False),
                                                                                  (False, True)}
    assert max(2 * e["m"] * e["n"] * e["k"] for e in gemms) < 5e10  # bounded: no 500000-K or 48000-N entries
    with pytest.raises(N.NetworkError, match="no batch dimension"):
        net.with_batch(4)


def test_pybench_lists_match_the_nn_builders():
    """pybench-mlp / pybench-cnn are the Linear and Conv2d layers bench-train's models really have."""
    mlp = nn.mlp(784, 10, depth=2, width=512)
    want = [(layer.in_features, layer.out_features) for layer in mlp.layers if type(layer).__name__ == "Linear"]
    got = [(e["in"], e["out"]) for k, e in N.load("pybench-mlp").entries]
    assert got == want
    cnn = nn.cnn((1, 28, 28), 10, depth=2, width=16, norm="batch", head="flatten")
    net = N.load("pybench-cnn")
    want_conv = [(c.in_channels, c.out_channels) for c in cnn.layers if type(c).__name__ == "Conv2d"]
    assert [(e["c"], e["k"]) for k, e in net.entries if k == "conv2d"] == want_conv
    assert [(e["h"], e["w"]) for k, e in net.entries if k == "conv2d"] == [(28, 28), (14, 14)]
    want_fc = [(c.in_features, c.out_features) for c in cnn.layers if type(c).__name__ == "Linear"]
    assert [(e["in"], e["out"]) for k, e in net.entries if k == "linear"] == want_fc


def test_mb_overrides_the_batch_and_work_follows():
    a = P.problems_from_network(N.load("resnet50"))
    b = P.problems_from_network(N.load("resnet50"), mb=16)
    assert all(p.params["batch"] == 8 for p in a) and all(p.params["batch"] == 16 for p in b)
    assert all(abs(q.work / p.work - 2.0) < 1e-12 for p, q in zip(a, b))
    conv1 = a[0]  # no dx: fwd + dW (2 x 2·N·O·Ho·Wo·C·k²) + bias and db
    fwd = 2.0 * 8 * 64 * 112 * 112 * 3 * 49
    assert conv1.work == 2 * fwd + 2.0 * 8 * 64 * 112 * 112
    assert conv1.params["count"] == 1 and conv1.params["layer"] == "conv1"


# ----------------------------------------------------------------------------------------------
# end to end
# ----------------------------------------------------------------------------------------------


def test_network_mb_end_to_end_table_json_and_totals(capsys, tmp_path, tiny, cal_path):
    calibrate.save(_fake_calibration(peak=50.0))
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--mb", "2", "--peers", "numpy,torch", "--json", str(out_json))
    assert rc == 0, err
    d = json.loads(out_json.read_text())
    assert d["shape_list"]["name"] == "tiny" and d["shape_list"]["batch"] == 2
    assert d["shape_list"]["source"] == "made up for the tests"
    recs = d["records"]
    assert [r["op"] for r in recs] == ["conv2d", "conv2d", "linear", "gemm", "gemm"]  # no copy row
    for r in recs:
        assert r["status"] == "ok" and r["check"]["ok"] and r["ours"]["median_s"] > 0
        assert r["fraction_of_peak"] == pytest.approx(r["ours"]["rate"] / 50.0)
    assert recs[0]["params"]["batch"] == 2 and recs[0]["params"]["count"] == 2
    assert recs[0]["params"]["compute_dx"] is False and recs[0]["label"] == "fwd+bwd no dx"
    assert recs[3]["params"]["trans_a"] is True and recs[4]["params"]["trans_b"] is True
    assert recs[2]["peers"]["numpy"]["status"] == "ok"
    t = d["totals"]
    assert t["rows"] == 5
    assert t["ours_s"] == pytest.approx(sum(r["params"]["count"] * r["ours"]["median_s"] for r in recs))
    assert "network: tiny, batch 2 (the network trains at 64" in out
    assert "50.0 GFLOP/s" in out and "of ceil" in out and "x2" in out and "x3" in out
    assert "total over the 5 timed rows" in out
    assert d["calibration"]["status"] == "cached"


def test_op_filters_the_list(capsys, tmp_path, tiny):
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "gemm", "--peers", "none", "--json", str(out_json))
    assert rc == 0, err
    assert [r["op"] for r in json.loads(out_json.read_text())["records"]] == ["gemm", "gemm"]


def test_proxy_and_row_sample_checks(capsys, tmp_path, tiny, monkeypatch):
    """Big problems are checked on a batch-1 proxy (conv) or a sample of C's rows (gemm): forced
    here on tiny sizes; both still pass, and say so in the record."""
    monkeypatch.setattr(cases_compute, "PROXY_CHECK_FLOPS", 0.0)
    monkeypatch.setattr(cases_compute, "FULL_CHECK_FLOPS", 0.0)
    monkeypatch.setattr(cases_compute, "SAMPLE_CHECK_FLOPS", 1.0)  # -> 2 rows: the first and the last
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--peers", "none", "--json", str(out_json))
    assert rc == 0, err
    recs = json.loads(out_json.read_text())["records"]
    convs = [r for r in recs if r["op"] == "conv2d"]
    assert convs and all("batch 1" in r["check_on"] and "proxy" in r["oracle"] for r in convs)
    gemms = [r for r in recs if r["op"] == "gemm"]
    assert gemms and all("2 of" in r["oracle"] for r in gemms)
    assert "‡" in out


def test_the_torch_peer_is_checked_on_the_proxy_too(capsys, tmp_path, tiny, monkeypatch):
    pytest.importorskip("torch", reason="the PyTorch peer needs torch (pip install '.[peers]')")
    monkeypatch.setattr(cases_compute, "PROXY_CHECK_FLOPS", 0.0)
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "conv2d", "--peers", "torch", "--json", str(out_json))
    assert rc == 0, err
    convs = json.loads(out_json.read_text())["records"]
    assert convs and all(r["peers"]["torch"]["status"] == "ok" and "proxy" in r["oracle"] for r in convs)


def test_wrong_kernel_on_the_proxy_is_failed_not_timed(capsys, tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(cases_compute, "PROXY_CHECK_FLOPS", 0.0)
    real = ops.conv2d_forward

    def wrong(x, w, b=None, *a, out=None, **kw):
        y = real(x, w, b, *a, out=out, **kw)
        y[..., -1] += 1.0  # last column wrong
        return y

    monkeypatch.setattr(ops, "conv2d_forward", wrong)
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "conv2d", "--peers", "none", "--json", str(out_json))
    assert rc == 1
    recs = json.loads(out_json.read_text())["records"]
    assert recs and all(r["status"] == "FAILED" and r["ours"] is None and r["check_on"] for r in recs)


def test_wrong_gemm_rows_are_caught_by_the_sample(capsys, tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(cases_compute, "FULL_CHECK_FLOPS", 0.0)
    monkeypatch.setattr(cases_compute, "SAMPLE_CHECK_FLOPS", 1.0)
    real = ops.gemm

    def wrong(a, b, *args, out=None, **kw):
        c = real(a, b, *args, out=out, **kw)
        c[-1] *= 2.0  # the last row: a tail bug
        return c

    monkeypatch.setattr(ops, "gemm", wrong)
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "gemm", "--peers", "none")
    assert rc == 1 and "FAILED" in out


def test_pybench_mlp_quick_run(capsys, tmp_path):
    """A built-in list end to end at a small --mb."""
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", "pybench-mlp", "--mb", "4", "--peers", "numpy", "--json", str(out_json))
    assert rc == 0, err
    recs = json.loads(out_json.read_text())["records"]
    assert [r["params"]["layer"] for r in recs] == ["fc1", "fc2", "fc3 (logits)"]
    assert all(r["params"]["batch"] == 4 and r["status"] == "ok" for r in recs)


# ----------------------------------------------------------------------------------------------
# bad input: exit 2, one clear line
# ----------------------------------------------------------------------------------------------


def _bad(tmp_path, text):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("args, fragments", [
    (["--network", "resnet51"], ["unknown network 'resnet51'", "resnet50", "vgg16", "deepbench-gemm"]),
    (["--network", "/nonexistent/x.toml"], ["no such file"]),
    (["--network", "resnet50", "--mb", "0"], ["--mb", "positive integer", "0"]),
    (["--network", "resnet50", "--mb", "eight"], ["--mb", "eight"]),
    (["--network", "deepbench-gemm", "--mb", "4"], ["--mb", "deepbench-gemm", "no batch dimension"]),
    (["--mb", "4"], ["--mb", "needs --network"]),
    (["--network", "resnet50", "--op", "relu"], ["--op", "resnet50", "relu", "conv2d"]),
])
def test_bad_network_usage_exits_2_with_one_line(capsys, args, fragments):
    rc, out, err = _bench(capsys, *args)
    assert rc == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_shapes_is_a_hidden_alias_of_network():
    """`--shapes` (and Options(shapes=...)), the old name, still work; the help shows --network only."""
    from pybench.bench import Options, UsageError
    from pybench.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["bench", "--shapes", "resnet50"]).network == "resnet50"
    assert parser.parse_args(["bench", "--network", "vgg16"]).network == "vgg16"
    assert parser.parse_args(["bench"]).network is None
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["bench"].format_help()
    assert "--network NAME|FILE" in text and "--shapes" not in text
    assert Options(shapes="resnet50").network == "resnet50" and Options(network="vgg16").network == "vgg16"
    with pytest.raises(UsageError, match="old name"):
        Options(network="vgg16", shapes="resnet50")


@pytest.mark.parametrize("text, fragment", [
    ("batch = 2\n[[conv2d]]\nc = 1\nh = 4\nw = 4\nk = 2\nkernel = 3\n", "missing 'source'"),
    ('source = "s"\nbatch = 2\n[[conv2d]]\nc = 1\nh = 4\nw = 4\nk = 2\n', "conv2d[0]: missing field 'kernel'"),
    ('source = "s"\nbatch = 2\n[[conv2d]]\nc = 0\nh = 4\nw = 4\nk = 2\nkernel = 3\n', "c: expected a positive int"),
    ('source = "s"\nbatch = 2\n[[conv2d]]\nc = 1\nh = 1\nw = 4\nk = 2\nkernel = 5\n', "h: expected >= kernel"),
    ('source = "s"\nbatch = 2\n[[linear]]\nin = 3\nout = 2\nbias = true\n', "unknown field(s) bias"),
    ('source = "s"\n[[linear]]\nin = 3\nout = 2\n', "need a top-level 'batch'"),
    ('source = "s"\n[[gemm]]\nm = 3\nn = 2\nk = "4"\n', "k: expected int"),
    ('source = "s"\n[[pool]]\nk = 2\n', "unknown entry kind(s) pool"),
    ('source = "s"\n', "no entries"),
    ('source = "s"\n[[gemm\n', "cannot read"),
])
def test_bad_network_files_exit_2(capsys, tmp_path, text, fragment):
    rc, out, err = _bench(capsys, "--network", _bad(tmp_path, text))
    assert rc == 2
    assert fragment in err and "bad.toml" in err and len(err.strip().splitlines()) == 1, err


def test_json_network_file(tmp_path):
    p = tmp_path / "l.json"
    p.write_text(json.dumps({"source": "json test", "gemm": [{"m": 2, "n": 3, "k": 4}]}))
    net = N.load(str(p))
    assert net.name == "l" and net.entries == [("gemm", {"name": "", "m": 2, "n": 3, "k": 4, "trans_a": False,
                                                         "trans_b": False, "count": 1})]


# ----------------------------------------------------------------------------------------------
# calibration
# ----------------------------------------------------------------------------------------------


def test_calibration_written_read_and_invalidated(cal_path, monkeypatch):
    assert calibrate.cache_path() == str(cal_path)
    cal, why = calibrate.load()
    assert cal is None and "no calibration" in why
    cal = calibrate.measure(quick=True, budget_s=0.01)
    assert cal["gemm_peak_gflops"] > 0 and cal["copy_gbs"] > 0 and cal["machine"] == calibrate.machine()
    calibrate.save(cal)
    again, why = calibrate.load()
    assert why is None and again == json.loads(cal_path.read_text())
    # another machine description: stale, and get() measures again (and rewrites the cache)
    calibrate.save(_fake_calibration(cpu="Some Other CPU"))
    cal2, why = calibrate.load()
    assert cal2 is None and "stale" in why and "Some Other CPU" in why
    assert calibrate.get(measure_if_missing=False) == (None, why)
    calls = []
    monkeypatch.setattr(calibrate, "measure", lambda **kw: calls.append(kw) or _fake_calibration(peak=7.0))
    cal3, status = calibrate.get()
    assert status == "measured" and cal3["gemm_peak_gflops"] == 7.0 and len(calls) == 1
    assert calibrate.load()[0]["gemm_peak_gflops"] == 7.0
    assert calibrate.get() == (calibrate.load()[0], "cached") and len(calls) == 1
    # version change invalidates too; garbage is reported, not raised
    calibrate.save(_fake_calibration(pybench="0.0.0"))
    assert "pybench was '0.0.0'" in calibrate.load()[1]
    cal_path.write_text("{not json")
    assert "unreadable" in calibrate.load()[1]


def test_cache_path_defaults_to_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("PYBENCH_CALIBRATION")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert calibrate.cache_path() == str(tmp_path / "xdg" / "pybench" / "calibration.json")


def test_info_calibrate_writes_the_cache(capsys, cal_path, monkeypatch):
    assert main(["info"]) == 0
    assert "calibration     none (no calibration at" in capsys.readouterr().out
    real = calibrate.measure
    monkeypatch.setattr(calibrate, "measure", lambda **kw: real(quick=True, budget_s=0.01, **kw))
    assert main(["info", "--calibrate"]) == 0
    out = capsys.readouterr().out
    assert "GEMM peak" in out and "GFLOP/s" in out and str(cal_path) in out
    assert calibrate.load()[0] is not None
    assert main(["info"]) == 0
    assert "calibration     GEMM peak" in capsys.readouterr().out
    assert main(["info", "--calibrate", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["calibration"]["gemm_peak_gflops"] > 0 and d["calibration"]["path"] == str(cal_path)


def test_quick_run_without_calibration_says_so(capsys, tiny):
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "linear", "--peers", "none")
    assert rc == 0
    assert "not calibrated" in out and "pybench info --calibrate" in out
    assert not os.path.exists(calibrate.cache_path())  # --quick never measures it


def test_full_run_measures_a_missing_calibration(capsys, tiny, monkeypatch):
    monkeypatch.setattr(calibrate, "measure", lambda **kw: _fake_calibration(peak=3.0))
    rc = main(["bench", "--repeat-seconds", "0.02", "--network", tiny, "--op", "linear", "--peers", "none"])
    out, err = capsys.readouterr()
    assert rc == 0 and "3.0 GFLOP/s" in out and "measured" in out
    assert calibrate.load()[0]["gemm_peak_gflops"] == 3.0


# ----------------------------------------------------------------------------------------------
# the CuPy / cuBLAS hook
# ----------------------------------------------------------------------------------------------


def test_cupy_peer_is_skipped_without_a_gpu(capsys, tmp_path, tiny):
    cupy, why = env.import_cupy()
    if cupy is not None:
        pytest.skip("a GPU is present: the skip path is not taken here")
    assert why.startswith("no GPU") or "not importable" in why
    assert "cupy" not in env.default_peers()
    out_json = tmp_path / "r.json"
    rc, out, err = _bench(capsys, "--network", tiny, "--op", "gemm", "--peers", "numpy,cupy", "--json", str(out_json))
    assert rc == 0
    recs = json.loads(out_json.read_text())["records"]
    assert all(r["peers"]["cupy"]["status"] == "n/a" and r["peers"]["cupy"]["reason"] == why for r in recs)
    assert all(r["peers"]["numpy"]["status"] == "ok" for r in recs)
    assert f"CuPy/cuBLAS: skipped ({why})" in out
