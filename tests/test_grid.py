"""pybench.experiments._grid: where a tuned value's optimum sits in its grid and which value to try
next (pure: values and scores in, a Decision out)."""

import pytest

from pybench.experiments import _grid
from pybench.experiments._grid import decide

LRS = [3e-4, 1e-3, 3e-3, 1e-2]


def _acc(peak_index, grid=LRS):
    """Scores falling away from grid[peak_index]."""
    return {v: 0.6 - 0.01 * abs(i - peak_index) for i, v in enumerate(grid)}


def test_best_on_the_top_edge_asks_for_the_value_one_ratio_beyond():
    d = decide([0.5, 0.7, 1, 1.4, 2], {0.5: 5, 0.7: 4, 1: 3, 1.4: 2, 2: 1}, higher_better=False)
    assert (d.best, d.side, d.status) == (2, "high", _grid.NOT_EXTENDED)
    assert d.next == 2.8 and not d.claimable            # ratio 2 ** 0.5, rounded to readable digits
    d = decide(LRS, _acc(3))
    assert d.next == pytest.approx(0.032) and d.best == 1e-2   # (1e-2 / 3e-4) ** (1/3) = 3.2


def test_best_on_the_bottom_edge_asks_for_the_value_below():
    d = decide([0.7, 1.4], {0.7: 1.0, 1.4: 2.0}, higher_better=False)
    assert (d.best, d.side, d.next) == (0.7, "low", 0.35)
    d = decide(LRS, _acc(0), ladder=_grid.half_decades(-6, 1))
    assert (d.best, d.side, d.next) == (3e-4, "low", 1e-4)   # the ladder's next step down


def test_interior_best_asks_nothing_and_supports_a_claim():
    d = decide(LRS, _acc(2))
    assert (d.best, d.status, d.next, d.side) == (3e-3, _grid.INTERIOR, None, None)
    assert d.claimable


def test_a_diverged_next_value_makes_the_edge_final():
    grid = LRS + [3e-2]
    scores = {**_acc(3), 3e-2: 0.1}
    d = decide(grid, scores, failed=[3e-2], base=LRS)
    assert (d.best, d.status, d.next) == (1e-2, _grid.NEXT_DIVERGED, None)
    assert d.claimable and d.grid_text() == "0.0003, 0.001, 0.003, 0.01*, +0.03 (x)"
    # the same scores without the divergence: an ordinary interior optimum
    assert decide(grid, scores, base=LRS).status == _grid.INTERIOR
    # a collapsed value below the best counts the same way
    assert decide(LRS, _acc(1), failed=[3e-4]).status == _grid.NEXT_DIVERGED


def test_the_round_limit_ends_the_extension_as_an_edge():
    ladder = _grid.half_decades(-6, 2)
    grid = list(LRS)
    for expected in (3e-2, 1e-1, 3e-1):  # the best keeps moving up: one value per round
        d = decide(grid, _acc(len(grid) - 1, grid), base=LRS, ladder=ladder)
        assert d.status == _grid.NOT_EXTENDED and d.next == expected
        grid.append(d.next)
    d = decide(grid, _acc(len(grid) - 1, grid), base=LRS, ladder=ladder)
    assert (d.status, d.next, d.best) == (_grid.ROUND_LIMIT, None, 3e-1) and not d.claimable
    assert _grid.MAX_ROUNDS == 3 and d.grid_text() == "0.0003, 0.001, 0.003, 0.01, +0.03, +0.1, +0.3*"
    assert decide(grid, _acc(len(grid) - 1, grid), base=LRS, ladder=ladder, max_rounds=4).next == 1.0


def test_a_ladder_end_is_a_bound():
    ladder = (0.2, 0.3, 0.5, 0.7, 0.8, 0.9)
    d = decide([0.5, 0.7, 0.8, 0.9], {0.5: 1, 0.7: 2, 0.8: 3, 0.9: 4}, base=[0.5], ladder=ladder, max_rounds=9)
    assert (d.status, d.next, d.side) == (_grid.BOUND, None, "high") and not d.claimable


def test_single_value_extends_up_then_down_or_is_marked_without_a_ratio():
    ladder = (0.1, 0.2, 0.3, 0.5)
    d = decide([0.3], {0.3: 1.0}, ladder=ladder)
    assert (d.side, d.next) == ("high", 0.5)
    d = decide([0.3, 0.5], {0.3: 1.0, 0.5: 0.9}, base=[0.3], ladder=ladder)
    assert (d.side, d.next) == ("low", 0.2)
    assert decide([0.5], {0.5: 1.0}, ladder=ladder).next == 0.3  # top of the ladder: down instead
    assert decide([0.3], {0.3: 1.0}).status == _grid.SINGLE
    assert decide([0.3], {0.3: 1.0}, factor=2).next == 0.6


def test_scores_ties_and_unscored_values():
    # lower is better, tuples compare element-wise; a tie goes to the smaller value
    d = decide([1, 2, 4], {1: (100, -1.0), 2: (100, -1.0), 4: (90, -0.5)}, higher_better=False)
    assert d.best == 4
    assert decide([1, 2, 4], {1: 0.5, 2: 0.5, 4: 0.4}).best == 1
    # a value without a score (missed the target) is tried but cannot win
    d = decide([1, 2, 4], {1: 0.5, 2: None, 4: None})
    assert (d.best, d.side, d.next) == (1, "low", 0.5)
    none = decide([1, 2], {})
    assert (none.best, none.status, none.next) == (None, _grid.NO_SCORE, None)


def test_unstable_half_or_more_diverged_or_collapsed():
    runs = [{"status": s} for s in ("completed", "diverged", "collapsed")]
    assert _grid.unstable(runs) and _grid.unstable(runs[:2])
    assert not _grid.unstable(runs[:1]) and not _grid.unstable([]) and not _grid.unstable(runs[:1] * 2 + runs[1:2])


def test_ladders_and_ratios():
    assert _grid.half_decades(-2, 0) == (0.01, 0.03, 0.1, 0.3, 1.0)
    assert _grid.grid_ratio([0.5, 0.7, 1, 1.4, 2]) == pytest.approx(2 ** 0.5)
    assert _grid.grid_ratio([3]) is None
    assert _grid.ladder_step((0.1, 0.3, 1.0), 0.3, "high") == 1.0
    assert _grid.ladder_step((0.1, 0.3, 1.0), 0.1, "low") is None
