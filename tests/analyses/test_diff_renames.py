"""The diff's one rename detector (`vfiogen.analyses.diff.renames`): each
entity kind gives a score (None: cannot be the same entity); names are
paired best score first, the first declared on a tie, each used once."""

from __future__ import annotations

from vfiogen.analyses.diff.renames import best_match, renames, similar


def by_similarity(x: str, y: str) -> float | None:
    s = similar(x, y)
    return s if s >= 0.6 else None


def test_the_most_similar_name_wins() -> None:
    assert renames(["VFIO_FOO"], ["VFIO_BAR", "VFIO_FOO2", "VFIO_FOOD"], by_similarity) == {
        "VFIO_FOO": "VFIO_FOO2"
    }


def test_a_tie_goes_to_the_first_declared() -> None:
    assert best_match("x", ["a", "b", "c"], lambda x, y: 0.0) == "a"


def test_an_added_name_is_taken_once() -> None:
    same = renames(["a", "b"], ["c"], lambda x, y: 0.0)
    assert same == {"a": "c"}


def test_no_candidate_no_rename() -> None:
    assert renames(["VFIO_FOO"], ["IOMMU_BAR"], by_similarity) == {}
    assert best_match("x", [], lambda x, y: 1.0) is None


def test_a_score_of_zero_is_a_match_and_none_is_not() -> None:
    assert renames(["a"], ["b"], lambda x, y: 0.0) == {"a": "b"}
    assert renames(["a"], ["b"], lambda x, y: None) == {}
