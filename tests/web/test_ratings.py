"""The arena's maths, on votes made by hand: Bradley-Terry ordering, intervals, ties, pairing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from weighbridge.web import pairing, ratings


def test_bradley_terry_orders_by_strength_and_intervals_hold_the_point() -> None:
    votes = (
        [("strong", "middle", "a")] * 8
        + [("middle", "strong", "a")] * 2
        + [("middle", "weak", "a")] * 8
        + [("weak", "middle", "a")] * 2
        + [("strong", "weak", "a")] * 9
        + [("strong", "weak", "b")] * 1
    )
    rated = ratings.rate(votes, bootstrap=100, seed=1)
    assert [r.model for r in rated] == ["strong", "middle", "weak"]
    for r in rated:
        assert r.low <= r.rating <= r.high
        assert r.high - r.low > 0
    assert {r.model: r.votes for r in rated} == {"strong": 20, "middle": 20, "weak": 20}
    assert ratings.rate(votes, bootstrap=100, seed=1) == rated  # seeded: the same intervals
    assert ratings.rate(list(reversed(votes)), bootstrap=0)[0].rating == pytest.approx(rated[0].rating)


def test_ties_count_half_and_both_bad_is_a_tie() -> None:
    tied = ratings.rate([("x", "y", "tie")] * 6 + [("x", "y", "both_bad")] * 4, bootstrap=20)
    assert tied[0].rating == pytest.approx(tied[1].rating)
    assert tied[0].wins == pytest.approx(5.0)
    # one model winning all its games stays finite (the anchor's virtual tie) and ahead
    swept = ratings.rate([("x", "y", "a")] * 5, bootstrap=20)
    assert swept[0].model == "x" and swept[0].rating < 2000 and swept[1].rating > 0
    # half wins: 3 wins and 2 ties against 5 losses is a 4-of-10 record, behind the other side
    mixed = ratings.rate([("p", "q", "a")] * 3 + [("p", "q", "tie")] * 2 + [("p", "q", "b")] * 5, bootstrap=0)
    assert mixed[0].model == "q" and mixed[1].wins == pytest.approx(4.0)


def test_win_matrix_is_complementary() -> None:
    matrix = ratings.win_matrix(
        [("a1", "b1", "a"), ("b1", "a1", "tie"), ("a1", "b1", "b"), ("a1", "b1", "a")]
    )
    assert matrix["a1"]["b1"] == (pytest.approx(2.5 / 4), 4)
    assert matrix["b1"]["a1"][0] == pytest.approx(1.5 / 4)
    assert ratings.rate([]) == []


def test_pairing_balances_exposure_and_avoids_the_last_pairs() -> None:
    rng = random.Random(3)
    pool = ["m1", "m2", "m3", "m4", "m5"]
    shown: Counter[str] = Counter()
    recent: list[tuple[str, str]] = []
    window = pairing.recent_window(len(pool))
    for _ in range(200):
        a, b = pairing.choose_pair(pool, shown, recent[-window:], rng)
        assert a != b
        assert pairing.key(a, b) not in {pairing.key(*p) for p in recent[-window:]}
        shown.update([a, b])
        recent.append((a, b))
    assert max(shown.values()) - min(shown.values()) <= 2
    firsts = Counter(a for a, _ in recent)
    assert min(firsts.values()) > 10  # "A" is not always the same model


def test_pairing_favours_the_least_shown_and_needs_two() -> None:
    rng = random.Random(0)
    a, b = pairing.choose_pair(["old", "new1", "new2"], {"old": 50}, [], rng)
    assert {a, b} == {"new1", "new2"}
    # with two models the only pair repeats, recent or not
    assert set(pairing.choose_pair(["x", "y"], {}, [("x", "y")], rng)) == {"x", "y"}
    with pytest.raises(ValueError):
        pairing.choose_pair(["solo"], {}, [], rng)
