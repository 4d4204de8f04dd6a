"""Kernel micro-benchmarks: `pybench bench`.

Every problem is first checked against `pybench.reference` on its actual inputs (a wrong result is
FAILED and never timed), then ours and the peers (NumPy, PyTorch CPU) are timed alternately within
a time budget and reported as medians with their spread, GFLOP/s or GB/s, and speed ratios.

    from pybench.bench import Options, run
    result = run(Options(ops=("relu",), quick=True))

Modules: problems (the one problem table: every problem, its sizes by class, for bench, the
gate, pytest-benchmark and the tests' check), problem_core and cases_* (inputs, our call,
oracle, tolerance, work, peers), timing (round-robin medians), check (comparisons), env
(threads, BLAS, torch), runner (check-then-time), tables (table, JSON), networks (real
networks' layers, for --network), gate_problems and gate (the instruction-count gate).
With --device cuda (Options(device="cuda")): device (parsing, CuPy device, CUDA events),
cuda_problems (the same problems on the GPU, CuPy / PyTorch CUDA peers), cuda_timing (the
round-robin with CUDA events), cuda_calibrate (the GPU's GEMM peak and copy bandwidth).
"""

from .problems import OPS, GROUPS  # noqa: F401
from .runner import Options, UsageError, run  # noqa: F401
