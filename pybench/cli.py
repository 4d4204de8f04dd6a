"""The `pybench` command."""

import argparse
import json
import os
import shlex
import sys


def _cmd_info(args):
    from . import info

    if args.device != "cpu":
        return _cmd_info_cuda(args)
    d = info.collect()
    if args.calibrate:
        from .bench import calibrate

        log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
        cal = calibrate.measure(threads=args.threads, log=log)
        path = calibrate.save(cal)
        d["calibration"] = dict(cal, path=path)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(info.format_info(d))
    if not args.calibrate:
        from .bench import calibrate

        cal, why = calibrate.load()
        if cal:
            line = (f"{calibrate.peak_summary(cal)}, copy {cal['copy_gbs']:.1f} GB/s "
                    f"(measured {cal['measured_at']}; `pybench info --calibrate` remeasures)")
        else:
            line = f"none ({why}; `pybench info --calibrate` measures it)"
        print(f"{'calibration':<14}  {line}")
    if args.calibrate:
        cal = d["calibration"]
        print(f"{'FMA peak':<14}  {cal['fma_peak_gflops']:.1f} GFLOP/s (register-only float32 FMA chains, "
              f"{cal['fma']['isa']}, best of {len(cal['fma']['runs'])} runs; {cal['threads']} threads)")
        print(f"{'GEMM peak':<14}  {cal['gemm_peak_gflops']:.1f} GFLOP/s (our float32 gemm, best of "
              f"{', '.join(str(g['n']) for g in cal['gemm'])}; {cal['threads']} threads)")
        print(f"{'':<14}  {calibrate.peak_summary(cal)}")
        print(f"{'copy':<14}  {cal['copy_gbs']:.1f} GB/s (our copy of {cal['copy']['elements']} float32, read + write)")
        print(f"{'calibration':<14}  written to {cal['path']}")
    return 0


def _cmd_info_cuda(args):
    """`pybench info [--calibrate] --device cuda[:N]`: the device, and its calibration (cached or measured)."""
    from . import info
    from .bench import cuda_calibrate, device as D

    try:
        dev = D.open_cuda(D.parse(args.device)[1])
    except D.DeviceUnavailable as e:
        print(f"pybench info: {e}", file=sys.stderr)
        return 2
    d = info.collect()
    d["cuda_device"] = dev.describe()
    if args.calibrate:
        log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
        cal = cuda_calibrate.measure(dev, log=log)
        cal = dict(cal, path=cuda_calibrate.save(cal), status="measured")
    else:
        cal, why = cuda_calibrate.load(dev)
        cal = dict(cal, path=cuda_calibrate.cache_path(), status="cached") if cal else {"status": why}
    d["cuda_calibration"] = cal
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(info.format_info(d))
    c = d["cuda_device"]
    print(f"{'device':<14}  {c['device']}: {c['name']} (cc {c['compute_capability']}, driver {c['driver']}, "
          f"CUDA runtime {c['runtime']}, CuPy {c['cupy']})")
    if "gemm_peak_gflops" not in cal:
        print(f"{'calibration':<14}  none ({cal['status']}; `pybench info --calibrate --device {args.device}` "
              "measures it)")
        return 0
    print(f"{'GEMM peak':<14}  {cal['gemm_peak_gflops']:.0f} GFLOP/s FP32 ({cal['gemm_peak_by']}, "
          f"{cal['gemm_peak_size']}^3; best of {', '.join(sorted({g['by'] for g in cal['gemm']}))})")
    print(f"{'copy':<14}  {cal['copy_gbs']:.0f} GB/s ({cal['copy']['by']} of {cal['copy']['elements']} float32, "
          "read + write)")
    for note in cal.get("notes", ()):
        print(f"{'note':<14}  {note}")
    verb = "written to" if cal["status"] == "measured" else f"measured {cal['measured_at']}, cached in"
    print(f"{'calibration':<14}  {verb} {cal['path']}")
    return 0


def _device_arg(s):
    from .bench import device

    try:
        return device.canonical(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _split_peers(s):
    return tuple(p.strip() for p in s.split(",") if p.strip() and p.strip() != "none")


def _default_peers(device="cpu"):
    from .bench import env

    if device != "cpu":
        from .bench import cuda_problems

        return cuda_problems.PEERS
    return env.default_peers()


def _cmd_bench(args):
    from . import console
    from .bench import Options, UsageError, env, run, tables
    from .bench.runner import DeviceUnavailable

    out = console.make(wide=args.wide)
    err = console.make(stderr=True, highlight=False, soft_wrap=True)
    warning = None
    if args.device == "cpu":  # NumPy's BLAS matters to the CPU peers only
        warning = env.slow_blas_warning("pybench bench " + " ".join(shlex.quote(a) for a in args.argv))
    peers = args.peers if args.peers is not None else _default_peers(args.device)
    opts = Options(ops=tuple(args.op or ()), impl=args.impl, threads=args.threads, quick=args.quick,
                   peers=peers, repeat_seconds=args.repeat_seconds, network=args.network, mb=args.mb,
                   device=args.device)
    started = []

    def log(msg):  # the warning comes with the first line of work: a usage error stays one line
        if warning and not started:
            err.print(f"[bold yellow]{warning}[/]")
        started.append(True)
        err.print(msg, markup=False)

    try:
        result = run(opts, log=log)
    except DeviceUnavailable as e:
        err.print(f"pybench bench: {e}", markup=False)
        return 2
    except UsageError as e:
        err.print(f"pybench bench: error: {e}", markup=False)
        return 2
    out.print(console.Lines(tables.header_lines(result)))
    out.print(tables.build_table(result, wide=args.wide))
    out.print(console.Lines(tables.totals_lines(result)))
    if args.json:
        tables.write_json(dict(result, command=["pybench", "bench", *args.argv]), args.json)
        err.print(f"wrote {args.json}", markup=False)
    if warning:
        err.print(f"[bold yellow]{warning}[/]")
    if result["failed"]:
        err.print(f"[bold red]{result['failed']} problem(s) FAILED their check (not timed)[/]")
        return 1
    return 0


def _cmd_bench_train(args):
    from . import console
    from .bench import tables, train_step

    out = console.make(wide=args.wide)
    err = console.make(stderr=True, highlight=False, soft_wrap=True)
    if args.convergence:
        from .bench import convergence

        rows = convergence.run(threads=args.threads, log=lambda m: err.print(m, markup=False))
        out.print("pybench bench-train --convergence: each config's accuracy bar, one train.run each")
        out.print(convergence.build_table(rows))
        if args.json:
            tables.write_json({"command": ["pybench", "bench-train", *args.argv], "runs": rows}, args.json)
            err.print(f"wrote {args.json}", markup=False)
        return 0 if all(r["passed"] for r in rows) else 1
    cases = None
    if args.model:
        pool = train_step.QUICK_CASES if args.quick else train_step.DEFAULT_CASES
        cases = [c for c in pool if c.name in args.model]
    result = train_step.run(cases, quick=args.quick, threads=args.threads, peers=args.peers,
                            budget_s=args.repeat_seconds, log=lambda m: err.print(m, markup=False))
    e = result["environment"]
    head = [f"pybench bench-train: {e['machine']['cpu']}, {e['threads']} threads, SIMD "
            f"{e['machine']['isa_active']}; PyTorch {e['torch'] or 'n/a (' + e['torch_reason'] + ')'}; "
            f"one step = forward, cross-entropy, backward, SGD momentum", train_step.peak_line(result)]
    load = e["loadavg_start"]
    if load is not None and load > 0.5 * (e["machine"]["cpu_count"] or 1):
        head.append(f"note: load average {load:.1f} at the start: timings are noisy, compare the ratios")
    out.print(console.Lines(head))
    out.print(train_step.build_table(result, wide=args.wide))
    if args.json:
        tables.write_json(dict(result, command=["pybench", "bench-train", *args.argv]), args.json)
        err.print(f"wrote {args.json}", markup=False)
    failed = [r for r in result["records"] if r["status"] != "ok"]
    return 1 if failed else 0


def parse_set(items):
    """['lr=0.1', 'norm=batch', 'betas=[0.9,0.99]'] -> {'lr': 0.1, 'norm': 'batch', ...}: each value
    is read as JSON when it parses (numbers, true/false/null, lists), else kept as a string."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _cmd_train(args):
    from . import store, train

    try:
        fields = json.loads(args.config_json) if args.config_json else {}
        if not isinstance(fields, dict):
            raise ValueError(f"--config-json: expected a JSON object, got {args.config_json!r}")
        fields.update(parse_set(args.set))
        if args.device is not None:
            fields["device"] = args.device
        config = train.Config.from_dict(fields)
        config.validate()
        train.check_device(config.device)  # an unusable GPU is a usage error, before any work
    except (TypeError, ValueError, RuntimeError) as e:
        print(f"pybench train: error: {e}", file=sys.stderr)
        return 2
    record = train.run(config)
    print(train.summary(record))
    if args.out:
        from .bench.tables import write_json

        write_json(record, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if record["status"] in store.DONE_STATUSES else 1


def _cmd_verify(args):
    from . import store, verify

    try:
        store.check_writable_file(os.path.join(args.out, "verify.json"))
    except ValueError as e:
        return _usage("verify", f"--out: {e}")
    try:
        dev = verify.open_device(args.device)
    except verify.DeviceMissing as e:  # one line, before any work, nothing written
        print(f"pybench verify: {e}", file=sys.stderr)
        return 2
    rep = verify.run(args.device, args.budget_s, log=lambda m: print(m, file=sys.stderr, flush=True), dev=dev)
    md, js = verify.write(rep, args.out)
    print(verify.markdown(rep))
    print(f"wrote {md} and {js}", file=sys.stderr)
    for f in rep["failures"]:
        print(f"FAILED: {f}", file=sys.stderr)
    return 0 if rep["ok"] else 1


def _usage(cmd, msg):
    print(f"pybench {cmd}: error: {msg}", file=sys.stderr)
    return 2


class _RichProgress:
    """sweep.run_sweep's progress callback: a bar per (experiment, mode) and one for the run in
    flight (or the points out on the Dask cluster), on stderr; notable outcomes printed above."""

    def __init__(self, executor, workers):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from . import console

        self.console = console.make(stderr=True, highlight=False)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=False)
        self.executor, self.workers = executor, workers
        self.sweep_task = self.run_task = None
        self.out_there = 0
        self.started = False

    def start(self):  # lazily, on the first event: a usage error before any work shows no bar
        if not self.started:
            self.started = True
            self.progress.start()

    def stop(self):
        if self.started:
            self.progress.stop()

    def print(self, msg):
        self.progress.console.print(msg, markup=False, highlight=False, soft_wrap=True)

    def __call__(self, event, **kw):
        self.start()
        p = self.progress
        if event == "cluster":
            self.print(f"dask: scheduler {kw['address']}; "
                       + (f"dashboard {kw['dashboard']}" if kw["dashboard"] else f"no dashboard: {kw['no_dashboard']}"))
        elif event == "sweep_start":
            where = f"{kw['experiment']} ({kw['mode']})" + (f" extension {kw['round']}" if kw.get("round") else "")
            if kw["skipped"]:
                self.print(f"{where}: {kw['skipped']} of {kw['total']} runs already stored, kept")
            self.sweep_task = p.add_task(where, total=kw["pending"])
        elif event == "extend":
            for text in kw["texts"]:
                self.print(f"{kw['experiment']} ({kw['mode']}): {text}")
        elif event == "run_start":
            if self.executor == "dask":
                self.out_there += 1
                self._dask_task()
            else:
                if self.run_task is not None:
                    p.remove_task(self.run_task)
                self.run_task = p.add_task("  " + kw["spec"].label(), total=None)
        elif event == "run_end":
            rec = kw["record"]
            if self.executor == "dask":
                self.out_there -= 1
                self._dask_task()
            elif self.run_task is not None:
                p.remove_task(self.run_task)
                self.run_task = None
            p.advance(self.sweep_task)
            if rec.get("status") != "completed":
                self.print(f"{kw['spec'].label()}: {rec.get('status')} ({rec.get('stop_reason')})")
        elif event == "sweep_end":
            if self.run_task is not None:
                p.remove_task(self.run_task)
                self.run_task = None

    def _dask_task(self):
        desc = f"  {self.out_there} point(s) queued or running on the cluster"
        if self.run_task is None:
            self.run_task = self.progress.add_task(desc, total=None)
        else:
            self.progress.update(self.run_task, description=desc)
        if self.out_there == 0:
            self.progress.remove_task(self.run_task)
            self.run_task = None


def _canonical_command(name, args, mode, custom):
    import shlex

    parts = ["pybench", "run"]
    if custom is not None and name == custom.name:
        parts += ["--config", args.config]
    else:
        parts.append(name)
    parts.append(f"--{mode}")
    for item in args.set or ():
        parts += ["--set", item]
    if args.device is not None:
        parts += ["--device", args.device]
    if args.seeds is not None:
        parts += ["--seeds", str(args.seeds)]
    return shlex.join(parts)


# said on stderr under tables printed without --wide (stdout keeps only the tables)
_WIDE_HINT = " (main columns shown; --wide prints every column of summary.md, summary.csv has them all)"


def _cmd_run(args):
    from . import console, experiments, report, store, sweep, train
    from .experiments import custom as custom_mod

    mode = "full" if args.full else "quick"
    try:
        overrides = parse_set(args.set)
        if args.device is not None:
            if overrides.get("device", args.device) != args.device:
                raise ValueError(f"--device {args.device}: conflicts with --set device={overrides['device']}")
            overrides["device"] = args.device
        custom = custom_mod.load(args.config) if args.config else None
        chosen = [experiments.get(n) for n in dict.fromkeys(args.experiments or ())]
        if custom is not None:
            chosen.insert(0, custom)
        elif not chosen:
            chosen = experiments.all_experiments()
        if not chosen:
            raise ValueError("no experiments registered")
        specs, meta = [], {}
        for exp in chosen:
            specs += exp.specs(mode, overrides, args.seeds)
            meta[exp.name] = {"command": _canonical_command(exp.name, args, mode, custom), "overrides": overrides,
                              "seeds": args.seeds if args.seeds is not None else exp.default_seeds(mode)}
            if custom is not None and exp is custom:
                meta[exp.name]["definition"] = custom.definition
        for device in dict.fromkeys(s.config.get("device", "cpu") for s in specs):
            train.check_device(device)  # before the sweep: an unusable GPU writes nothing
        out = store.check_writable(args.out)
        executor = args.executor or ("dask" if (args.scheduler or args.workers) else "local")
        if executor == "local" and (args.scheduler or args.workers):
            raise ValueError("--scheduler/--workers: need --executor dask (or leave --executor out)")
    except (TypeError, ValueError, RuntimeError) as e:
        return _usage("run", e)
    reporter = None if args.quiet else _RichProgress(executor, args.workers)
    by_name = {exp.name: exp for exp in chosen}

    def extend(name, md, records):  # tuned grids whose best value sits on an edge ask for one more value
        return by_name[name].extend(records, md, overrides, args.seeds)

    try:
        try:
            summary = sweep.run_sweep(specs, out, executor=executor, scheduler=args.scheduler, workers=args.workers,
                                      resume=args.resume, progress=reporter, meta=meta, connect_timeout=args.timeout,
                                      extend=extend)
        finally:
            if reporter is not None:
                reporter.stop()
        written = []
        for experiment, md in summary["groups"]:
            written += report.build(out, experiment, md, index=False)
        written.append(report.write_index(out))
    except sweep.SweepUsageError as e:
        return _usage("run", e)
    except KeyboardInterrupt:
        print("pybench run: interrupted; every finished run is stored: run the same command again to finish",
              file=sys.stderr)
        return 130
    except OSError as e:  # disk full, quota, a read-only mount: one line; the runs stored so far stay
        if e.filename is None:
            raise
        print(f"pybench run: error: cannot write {e.filename}: {e.strerror}; every finished run is stored: "
              "free the space and run the same command again to finish", file=sys.stderr)
        return 1
    for i, (experiment, md) in enumerate(summary["groups"]):
        print(("\n" if i else "") + report.table_text(out, experiment, md, args.wide, console.width(wide=args.wide)),
              end="")
    if not args.quiet:
        st = ", ".join(f"{n} {k}" for k, n in sorted(summary["statuses"].items()))
        print(f"{summary['runs']} runs ({summary['ran']} run now, {summary['skipped']} kept from before): {st}; "
              f"tables and plots under {out}" + ("" if args.wide else _WIDE_HINT), file=sys.stderr)
    return 1 if summary["failed"] else 0


def _cmd_list(args):
    from . import console, experiments

    exps = experiments.all_experiments()
    if args.json:
        print(json.dumps([{"name": e.name, "title": e.title, "description": e.description, "axes": e.axes,
                           "quick_axes": e.mode_axes("quick"), "base": e.base_config("full"),
                           "quick": e.quick, "seeds": {m: e.default_seeds(m) for m in ("quick", "full")},
                           "runs": {m: len(e.specs(m)) for m in ("quick", "full")}} for e in exps], indent=2))
        return 0
    width = console.width()
    lines = []
    for i, e in enumerate(exps):
        if i:
            lines.append("")
        lines += console.wrap(f"{e.name}: {e.title}", width, "    ")
        lines += console.wrap("    " + e.description, width, "    ")
        for mode in ("full", "quick"):
            head = f"  {mode:5s}  {len(e.specs(mode))} runs ({e.default_seeds(mode)} seed(s) per point): "
            axes = {k: [json.dumps(v) if not isinstance(v, str) else v for v in vs] for k, vs in e.mode_axes(mode).items()}
            one = head + "; ".join(f"{k} = {', '.join(vs)}" for k, vs in axes.items())
            if len(one) <= (width or len(one)) or not axes:
                lines.append(one if axes else head + "no axes")
            else:  # one axis a line, wrapped between its values
                lines.append(head.rstrip())
                lines += [ln for k, vs in axes.items() for ln in console.wrap_items(f"    {k} = ", vs, width)]
        base = e.base_config("full")
        lines += console.wrap_items("  defaults: ", [f"{k}={json.dumps(v)}" for k, v in base.items()], width)
        if e.quick:
            lines += console.wrap_items("  quick mode changes: ", [f"{k}={json.dumps(v)}" for k, v in e.quick.items()],
                                        width)
    lines.append("")
    lines += console.wrap("Any Config field can be changed with --set KEY=VALUE (an axis name replaces that axis; a "
                          "list value sweeps it); `pybench run --config FILE.toml` runs your own sweep.", width, "")
    print("\n".join(lines))
    return 0


def _cmd_report(args):
    from . import console, report, store

    if args.history is not None:
        return _cmd_report_history(args)

    out = args.dir
    entries = store.list_stored(out)
    if not entries:
        return _usage("report", f"{out}: no experiment records found (expected {out}/<experiment>/<mode>/runs/*.json)")
    try:
        store.check_writable(out)
    except ValueError as e:
        return _usage("report", e)
    written = report.build_all(out)
    readme = _readme_path(args.readme, out)
    if readme is not None:
        try:
            changed = report.update_readme(readme, out)
        except (OSError, ValueError) as e:
            return _usage("report", f"--readme {readme}: {e}")
        written += [changed] if changed else []
    width = console.width(wide=args.wide)
    for i, (e, m) in enumerate(entries):
        print(("\n" if i else "") + report.table_text(out, e, m, args.wide, width), end="")
    if not args.quiet:
        print(f"wrote {len(written)} files under {out}" + ("" if args.wide else _WIDE_HINT), file=sys.stderr)
    return 0


def _readme_path(given, out):
    """The file whose headline block `pybench report` rewrites: --readme, else the README.md beside
    DIR when it has the markers (the project's README for the default results/), else none."""
    import os

    from . import report

    if given is not None:
        return given
    path = os.path.join(os.path.dirname(os.path.abspath(out)), "README.md")
    try:
        with open(path, encoding="utf-8") as f:
            return path if report.HEADLINE_BEGIN in f.read() else None
    except (OSError, UnicodeDecodeError):
        return None


def _cmd_gate(args):
    from .bench import gate

    return gate.run_gate(baseline=args.baseline, out=args.out, threshold=args.threshold, history=args.history,
                         update_baseline=args.update_baseline, names=args.only, isa=args.isa, repeat=args.repeat,
                         err=lambda m: print(m, file=sys.stderr))


def _cmd_compare(args):
    from . import console as term
    from .bench import compare

    console = term.make(highlight=False)

    def out(x):  # lines as they are (CI logs); the table of two bench runs through rich, at the console width
        if isinstance(x, str):
            print(x)
        else:
            console.print(x)
    return compare.run_compare(args.baseline, args.current, args.threshold, ignore_key=args.ignore_key, out=out,
                               err=lambda m: print(m, file=sys.stderr), json_out=args.json, md_out=args.md)


def _cmd_report_history(args):
    import os

    from .bench import history

    try:
        rows = history.read(args.history)
    except history.HistoryError as e:
        return _usage("report", e)
    png = args.plot or os.path.join(os.path.dirname(os.path.abspath(args.history)), "history.png")
    print(history.table(rows))
    history.plot(rows, png)
    if not args.quiet:
        print(f"wrote {png}", file=sys.stderr)
    return 0


def _positive_float(s):
    try:
        v = float(s)
    except ValueError:
        v = None
    if v is None or not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {s!r}")
    return v


def _out_file(s):
    """An output file checked at parse time: a bad path is a one-line usage error before any work."""
    from . import store

    try:
        store.check_writable_file(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return s


def _positive_int(s):
    try:
        v = int(s)
    except ValueError:
        v = None
    if v is None or v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _network_names():
    try:
        from .bench import networks

        return networks.names()
    except Exception:
        return []


def build_parser():
    from .bench import GROUPS, OPS

    p = argparse.ArgumentParser(prog="pybench", description="Native reference kernels and training benchmarks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("info", help="build, SIMD level, threads and CUDA status")
    pi.add_argument("--json", action="store_true", help="machine-readable output")
    pi.add_argument("--calibrate", action="store_true",
                    help="measure the GEMM peak and copy bandwidth (a few seconds) and cache them with the machine "
                         "description for `pybench bench`'s %% of peak ($PYBENCH_CALIBRATION, else "
                         "$XDG_CACHE_HOME/pybench/calibration.json)")
    pi.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="threads for --calibrate (default: all logical CPUs)")
    pi.add_argument("--device", type=_device_arg, default="cpu", metavar="DEV",
                    help="cpu (default), cuda or cuda:N: with cuda, show that GPU and its calibration; with "
                         "--calibrate, measure its FP32 GEMM peak and copy bandwidth (cached beside the CPU's)")
    pi.set_defaults(func=_cmd_info)

    pb = sub.add_parser(
        "bench", help="time the native ops against NumPy and PyTorch",
        description="Check each op against pybench.reference on its inputs, then time it side by side with "
                    "NumPy and PyTorch CPU (alternating, median of repeats). Default problems: the problem "
                    "table's full sizes, one or more per op (docs/benchmarks.md); --network runs a real network's "
                    "layers instead. Exit 0 on success, 1 if any problem "
                    "FAILED its check, 2 on usage errors.")
    pb.add_argument("--op", nargs="+", action="extend", metavar="OP", choices=list(OPS) + list(GROUPS),
                    help="ops to run (default: all): " + ", ".join(list(OPS) + list(GROUPS)))
    pb.add_argument("--impl", default=None, metavar="IMPL",
                    help="implementation to time (default: each op's default, its fastest); 'all' times "
                         "every registered one side by side")
    pb.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="threads for pybench, PyTorch and NumPy's BLAS (default: pybench's current count)")
    pb.add_argument("--quick", action="store_true",
                    help="the table's quick sizes: every problem, small (smoke runs, tests); no calibration is "
                         "measured")
    pb.add_argument("--network", default=None, metavar="NAME|FILE",
                    help="time the layers of a real network instead: " + ", ".join(_network_names())
                         + " (pybench/bench/networks/), or a .toml/.json file of the same form")
    pb.add_argument("--shapes", dest="network", default=None, help=argparse.SUPPRESS)  # the old name of --network
    pb.add_argument("--mb", type=_positive_int, default=None, metavar="N",
                    help="batch of the --network's conv2d/linear layers (default: the network's, e.g. 8 for "
                         "resnet50, 2 for vgg16, 128 for pybench-mlp/cnn)")
    pb.add_argument("--peers", type=_split_peers, default=None, metavar="LIST",
                    help="comma-separated peers to compare with: numpy,torch,cupy (default numpy,torch, plus cupy "
                         "where a GPU is present; with --device cuda: cupy,torch on the device; 'none' for none)")
    pb.add_argument("--repeat-seconds", type=_positive_float, default=None, metavar="S",
                    help="timing budget per problem after warm-up (default 1.0; 0.1 with --quick)")
    pb.add_argument("--json", metavar="OUT", default=None, type=_out_file, help="write every record (and machine info) to OUT")
    pb.add_argument("--device", type=_device_arg, default="cpu", metavar="DEV",
                    help="cpu (default), cuda or cuda:N: the same problems with CuPy inputs on that GPU, timed "
                         "with CUDA events against CuPy (cuBLAS) and PyTorch CUDA (cuDNN); peers then: cupy,torch")
    pb.add_argument("--wide", action="store_true",
                    help="every column (IQR, each peer's time and rate, impl) and unwrapped header lines (default: "
                         "fitted to the terminal or 100 columns)")
    pb.set_defaults(func=_cmd_bench)

    pt = sub.add_parser(
        "bench-train", help="training-step throughput of pybench.nn models against PyTorch",
        description="Time one training step (forward, cross-entropy, backward, SGD momentum) of the experiments' MLP "
                    "and small CNN against the same model in PyTorch CPU, after checking that one step of each "
                    "agrees. --convergence trains the convergence configs instead. Exit 0 on success, 1 if a check FAILED "
                    "or a bar was missed, 2 on usage errors.")
    pt.add_argument("--model", nargs="+", choices=("mlp", "cnn"), help="models to run (default both)")
    pt.add_argument("--quick", action="store_true", help="two small cases (smoke runs, tests)")
    pt.add_argument("--wide", action="store_true",
                    help="every column (params, step times, PyTorch's samples/s, dominant ops) and unwrapped "
                         "header lines (default: fitted to the terminal or 100 columns)")
    pt.add_argument("--convergence", action="store_true",
                    help="instead of timing steps, train the engine's convergence configs to their budgets and "
                         "compare test accuracy with the bars (a few minutes)")
    pt.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="threads for pybench and PyTorch (default: pybench's current count)")
    pt.add_argument("--peers", type=_split_peers, default=("torch",), metavar="LIST",
                    help="'torch' (default) or 'none'")
    pt.add_argument("--repeat-seconds", type=_positive_float, default=None, metavar="S",
                    help="timing budget per case (default 2.0; 0.3 with --quick)")
    pt.add_argument("--json", metavar="OUT", default=None, type=_out_file, help="write every record to OUT")
    pt.set_defaults(func=_cmd_bench_train)

    pr = sub.add_parser(
        "train", help="train one model on pybench's kernels and print its record's summary",
        description="Train one config (pybench.train.Config; every field has a default) and print a summary. "
                    "Exit 0 when the run completed, diverged or collapsed (a measured outcome), 1 when it "
                    "failed, 2 on a bad config.")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="a Config field, e.g. --set model=cnn --set lr=0.002 (values read as JSON when they parse)")
    pr.add_argument("--config-json", default=None, metavar="JSON", help="Config fields as one JSON object")
    pr.add_argument("--out", metavar="FILE", default=None, type=_out_file, help="write the full record as JSON")
    pr.add_argument("--device", default=None, metavar="DEVICE",
                    help="cpu (default), cuda or cuda:N (needs CuPy and a GPU; same as --set device=...)")
    pr.set_defaults(func=_cmd_train)

    from .experiments._grid import MAX_ROUNDS

    try:
        from . import experiments

        names = experiments.names()
    except Exception as e:  # a broken experiment module must not take `pybench info` down with it
        names = [f"(experiments unavailable: {type(e).__name__}: {e})"]
    pn = sub.add_parser(
        "run", help="run experiments (sweeps) and write their tables and plots",
        description="Run experiments and write one JSON record per run plus summary.csv, summary.md and plots under "
                    "OUT/<experiment>/<mode>/, and OUT/README.md. Default: every experiment (" + ", ".join(names)
                    + ") in quick mode into results/. Runs already stored are kept (--no-resume reruns them). "
                    "A tuned grid (batch-size's lr_factor, pitfalls' learning rates, dropout and weight decay) whose "
                    f"best value sits on an edge is extended beyond it, up to {MAX_ROUNDS} rounds (docs/protocol.md). "
                    "Tables on stdout, progress on stderr. Exit 0 when done, 1 if a run failed, 2 on usage errors.")
    pn.add_argument("experiments", nargs="*", metavar="EXPERIMENT", help="experiments to run: " + ", ".join(names))
    g = pn.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="quick mode (default): small sweeps, short budgets")
    g.add_argument("--full", action="store_true", help="full mode: the sweeps of the published tables")
    pn.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a Config field for every run, or an axis (e.g. --set width=[64,128]); values "
                         "read as JSON when they parse")
    pn.add_argument("--config", metavar="FILE.toml", default=None,
                    help="your own sweep: name, [base] Config fields, [axes] lists, optional [quick] (see "
                         "pybench.experiments.custom)")
    pn.add_argument("--seeds", type=_positive_int, default=None, metavar="N",
                    help="replicates per point (default: the experiment's, e.g. 1 quick / 3 full); medians and spread")
    pn.add_argument("--out", default="results", metavar="DIR", help="results directory (default: results)")
    pn.add_argument("--device", default=None, metavar="DEVICE",
                    help="cpu (default), cuda or cuda:N for every run (needs CuPy and a GPU; checked before the sweep)")
    pn.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="keep runs already stored and run only the rest (default); --no-resume reruns everything")
    pn.add_argument("--executor", choices=("local", "dask"), default=None,
                    help="local: one run at a time in this process (default); dask: one run per Dask worker")
    pn.add_argument("--scheduler", default=None, metavar="ADDR",
                    help="Dask scheduler to send the runs to, e.g. tcp://HOST:8786 (workers need --resources slot=1)")
    pn.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                    help="start a local Dask cluster of N single-thread workers")
    pn.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                    help="seconds to wait for the Dask scheduler and a first worker (default 10)")
    pn.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    pn.add_argument("--wide", action="store_true",
                    help="print every column of summary.md (default: the main ones, fitted to the terminal or "
                         "100 columns)")
    pn.set_defaults(func=_cmd_run)

    pl = sub.add_parser("list", help="the experiments, their axes and defaults")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=_cmd_list)

    pp = sub.add_parser("report", help="rebuild every table and plot from the stored records",
                        description="Rebuild summary.csv, summary.md and the plots of every experiment stored under "
                                    "DIR, and DIR/README.md, from the run records alone; print the tables.")
    pp.add_argument("dir", nargs="?", default="results", metavar="DIR", help="results directory (default: results)")
    pp.add_argument("--quiet", "-q", action="store_true", help="nothing on stderr")
    pp.add_argument("--wide", action="store_true",
                    help="print every column of summary.md (default: the main ones, fitted to the terminal or "
                         "100 columns)")
    pp.add_argument("--readme", default=None, metavar="FILE",
                    help="also write the headline table between the <!-- headline:begin --> and "
                         "<!-- headline:end --> markers of FILE (default: the README.md beside DIR, when it has them)")
    pp.add_argument("--history", nargs="?", const="results/bench/history.jsonl", default=None, metavar="FILE",
                    help="instead: the regression gate's history (default results/bench/history.jsonl): a table "
                         "per kernel and a plot of its figure over commits (history.png next to FILE)")
    pp.add_argument("--plot", default=None, metavar="PNG", help="with --history: where to write the plot")
    pp.set_defaults(func=_cmd_report)

    pg = sub.add_parser(
        "gate", help="CI regression gate: instruction counts under valgrind against a committed baseline",
        description="Check each gate problem against pybench.reference, count the instructions of one call of "
                    "each under valgrind (callgrind, one thread), write the figures, compare them with the "
                    "baseline and append them (with the commit) to the history. A baseline recorded under "
                    "another key (compiler, flags, CPU class, ISA path, valgrind, Python, NumPy) is not "
                    "compared. Exit 0 pass or not comparable, 1 regression past the threshold or a problem "
                    "FAILED/missing, 2 usage error, 3 the gate could not run (no valgrind).")
    pg.add_argument("--baseline", default="results/bench/gate-baseline.json", metavar="FILE",
                    help="baseline figures (default results/bench/gate-baseline.json)")
    pg.add_argument("--out", default="results/bench/gate-current.json", metavar="FILE", type=_out_file,
                    help="write this run's figures here (default results/bench/gate-current.json)")
    pg.add_argument("--threshold", default=None, metavar="PCT",
                    help="regression threshold in percent (default 2: counts repeat to the instruction)")
    pg.add_argument("--history", default="results/bench/history.jsonl", metavar="FILE",
                    help="append this run to FILE (default results/bench/history.jsonl; '' for none)")
    pg.add_argument("--update-baseline", action="store_true",
                    help="write this run's figures as the baseline (refresh after an intended change or on a "
                         "new set-up; commit the file)")
    pg.add_argument("--only", action="append", default=None, metavar="NAME",
                    help="only the problems whose name starts with NAME (repeatable; counts can differ from a "
                         "full run by up to ~0.5%%, as what ran before changes the interpreter's state)")
    pg.add_argument("--isa", choices=("base", "avx2", "avx512"), default=None,
                    help="force a SIMD level (default: what the dispatcher picks under valgrind, AVX2 here)")
    pg.add_argument("--repeat", type=_positive_int, default=3, metavar="N",
                    help="count each problem N times and keep the smallest (default 3)")
    pg.set_defaults(func=_cmd_gate)

    pc = sub.add_parser(
        "compare", help="change per row between two runs: bench, bench-train, gate or pytest-benchmark JSON",
        description="Compare two `pybench bench --json` runs, two `pybench bench-train --json` runs, two gate "
                    "figure files or two pytest-benchmark JSONs, row by row. Bench and bench-train rows are matched "
                    "by identity (op, pass, shape, impl; model, batch, resolution), each row's median time judged "
                    "with both runs' quartiles: slower (or faster) only when the median changed by more than "
                    "--threshold AND the interquartile ranges do not overlap (current q1 above the baseline's q3); "
                    "a larger change with overlapping ranges is 'same (within noise)'; rows in one run only, or not "
                    "timed in one (FAILED, unavailable), are listed as such. Different set-ups (CPU, threads, SIMD) are compared with a warning. Exit 1 "
                    "when a row is significantly slower; for gate and pytest-benchmark figures, when a kernel got "
                    "worse by more than the threshold (or failed, or went missing); 0 otherwise (also when gate "
                    "figures were recorded under different keys: not compared); 2 on usage errors.")
    pc.add_argument("baseline", metavar="BASELINE", help="bench, bench-train, gate or pytest-benchmark JSON")
    pc.add_argument("current", metavar="CURRENT", help="same kind as BASELINE")
    pc.add_argument("--threshold", default=None, metavar="PCT",
                    help="percent (default 5 for bench and bench-train runs, 2 for instruction counts, 25 for "
                         "pytest-benchmark wall-clock medians)")
    pc.add_argument("--ignore-key", action="store_true",
                    help="gate and pytest-benchmark figures: compare even when the environment keys differ")
    pc.add_argument("--json", metavar="OUT", default=None, type=_out_file,
                    help="also write the rows and verdicts to OUT (JSON)")
    pc.add_argument("--md", metavar="OUT", default=None, type=_out_file, help="also write the table to OUT (Markdown)")
    pc.set_defaults(func=_cmd_compare)
    pv = sub.add_parser(
        "verify", help="check this machine in one command: correctness, training, speed, a batch sweep",
        description="Check every op and impl against the reference (float32/float64), every backward by finite "
                    "differences, dropout across threads, an MLP and a CNN trained on this device against the CPU, "
                    "speed side by side with the platform's libraries, and a short batch-size sweep; write "
                    "verify.md and verify.json to --out (docs/verify.md). Progress on stderr. Exit 0 when "
                    "everything holds, 1 when something is wrong (the report says what), 2 on usage errors or "
                    "when the device is missing.")
    pv.add_argument("--device", type=_device_arg, default="cpu", metavar="DEV", help="cpu (default), cuda or cuda:N")
    pv.add_argument("--budget-s", type=_positive_float, default=None, metavar="S",
                    help="seconds for the whole run (default 170 on the CPU, 240 on a GPU); the sweep is dropped "
                         "first, the checks never")
    pv.add_argument("--out", default="results/verify", metavar="DIR", help="report directory (default results/verify)")
    pv.set_defaults(func=_cmd_verify)
    for sp in (p, *sub.choices.values()):  # every command: a usage error is one line
        sp.error = _one_line_error(sp)
    return p


def _one_line_error(parser):
    def error(message):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    return error


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: 2 on usage errors, 0 for --help
        return e.code
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    args.argv = argv[1:] if argv and argv[0] == args.command else argv
    try:
        return args.func(args)
    except BrokenPipeError:  # `pybench ... | head`: the reader left; stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not raise again
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
    except OSError as e:  # a file that cannot be written (disk full, read-only): one line, not a traceback
        if e.filename is None:
            raise
        print(f"pybench {args.command}: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
