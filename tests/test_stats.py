"""The tie rule (pybench.experiments.stats) on synthetic per-seed values."""

import math

import pytest

from pybench.experiments import stats


# ---- the rule ----------------------------------------------------------------------------------

def test_a_clear_winner_is_claimed():
    v = stats.rank({"a": [0.60, 0.61, 0.62], "b": [0.70, 0.71, 0.72], "c": [0.50, 0.52, 0.51]})
    assert v.claimed and v.best == "b" and v.runner_up == "a" and v.tied == ["b"]
    assert v.diff == pytest.approx(0.10) and v.interval[0] > 0
    assert v.text() == "b"
    assert stats.row_tags(v, "best") == {"b": "best"}


def test_overlapping_spreads_are_a_tie_naming_every_tied_setting():
    # the published widths: 2048 66.7 ± 1.2 vs 1024 66.1 ± 0.6 (and 256 overlapping both)
    v = stats.rank({256: [0.667, 0.63, 0.652], 1024: [0.661, 0.661, 0.672], 2048: [0.667, 0.678, 0.654],
                    64: [0.591, 0.618, 0.60]})
    assert not v.claimed and v.why == "tie" and v.best == 2048 and sorted(v.tied) == [256, 1024, 2048]
    assert v.interval[0] < 0 < v.interval[1]
    assert v.text(*stats.labelled("width", "widths")) == "tie (widths 2048, 1024, 256)"
    assert stats.row_tags(v, "best") == {2048: "best (tie)", 1024: "best (tie)", 256: "best (tie)"}


def test_with_three_seeds_the_interval_is_the_range_rule():
    # a median of 3 resampled seeds is each extreme with probability 7/27 > 2.5%: separated iff ranges do not overlap
    assert stats.rank({"a": [1.0, 2.0, 3.0], "b": [3.1, 4.0, 5.0]}).claimed
    assert not stats.rank({"a": [1.0, 2.0, 3.2], "b": [3.1, 4.0, 5.0]}).claimed
    assert stats.diff_interval([3.1, 4.0, 5.0], [1.0, 2.0, 3.0]) == pytest.approx((0.1, 4.0))


def test_lower_is_better_and_a_winner_that_missed_its_target_is_not_claimed():
    times = {64: [0.064, 0.052, math.inf], 128: [0.069, 0.053, 0.075], 256: [0.125, 0.123, 0.182]}
    reached = {64: (2, 3), 128: (3, 3), 256: (3, 3)}
    v = stats.rank(times, higher=False, reached=reached)
    assert v.best == 64 and not v.claimed and v.why == "missed target" and v.missed == "2 of 3"
    # among the settings that reached the target in every seed, 128 is separated from 256
    assert v.among_complete.claimed and v.among_complete.best == 128
    name, names = stats.labelled("width", "widths")
    assert v.text(name, names) == ("not shown: width 64 reached the target in 2 of 3 seeds; of those that reached "
                                   "it in every seed: width 128")
    assert stats.row_tags(v, "fastest") == {64: "fastest: not shown (target 2 of 3)",
                                            128: "fastest of those always at target"}
    # the same values without the target condition: 64 leads, but a missed seed makes its median uncertain
    assert not stats.rank({64: times[64], 128: times[128]}, higher=False).claimed
    # a clear, complete winner on lower-is-better
    assert stats.rank({1: [1.0, 1.1, 1.2], 2: [2.0, 2.1, 2.2]}, higher=False, reached={1: (3, 3), 2: (3, 3)}).best == 1


def test_too_few_seeds_or_one_setting_is_never_a_claim():
    one_seed = stats.rank({"a": [0.9], "b": [0.1]})
    assert not one_seed.claimed and one_seed.why == "too few seeds" and "fewer than 2 seeds" in one_seed.text()
    alone = stats.rank({"a": [0.5, 0.6]})
    assert not alone.claimed and alone.why == "one setting"
    assert stats.rank({"a": [None], "b": []}).text() == "not shown: no values"


def test_bootstrap_is_deterministic_and_inf_minus_inf_is_no_difference():
    vals = {"a": [1.0, 2.0, 3.0, 2.5, 1.5], "b": [2.2, 3.1, 2.9, 3.3, 2.0]}
    assert stats.rank(vals) == stats.rank(vals)
    assert stats.diff_interval([math.inf, math.inf], [math.inf, math.inf]) == (0.0, 0.0)
    lo, hi = stats.diff_interval([1.0, math.inf], [1.0, 1.0])
    assert lo == 0.0 and hi == math.inf


def test_paired_effect():
    e = stats.paired_effect([0.40, 0.22, 0.42])
    assert e.median == pytest.approx(0.40) and e.interval == pytest.approx((0.22, 0.42)) and e.sign == 1
    assert stats.paired_effect([0.03, -0.04, 0.04]).sign == 0
    assert stats.paired_effect([-0.03, -0.04, -0.01]).sign == -1
    assert stats.paired_effect([0.5]).interval is None and stats.paired_effect([0.5]).sign == 0
    assert stats.paired_effect([None]).median is None


def test_fmt_sci():
    assert [stats.fmt_sci(v) for v in (0.0738, 88.0, 3210.4, 1.68e6, 8.6e-7, 0)] == \
        ["0.0738", "88", "3,210", "1.68·10⁶", "8.6·10⁻⁷", "0"]
