"""pytest-benchmark suite: collected only when benchmarks are asked for.

`pytest` from the repository root neither collects nor runs these files (the default addopts carry
--benchmark-skip); `pytest tests/bench --benchmark-only --benchmark-json OUT` runs them (and
--benchmark-enable with --benchmark-only unset collects them too). The JSON's naming is described
in pybench/bench/pytest_json.py.
"""


def pytest_ignore_collect(collection_path, config):
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False):
        return None
    return True
