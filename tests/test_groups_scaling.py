import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina import Groups, scale_weights
from lamina.groups import as_groups


def test_from_labels_keeps_first_appearance_order():
    g = Groups.from_labels(["b", "a", "b", "c"])
    assert g.names == ("b", "a", "c")
    assert g.labels.tolist() == [0, 1, 0, 2]
    assert g.sizes.tolist() == [2, 1, 1]
    assert g.indices(0).tolist() == [0, 2]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=40))
def test_partition_roundtrip(labels):
    g = Groups.from_labels(labels)
    seen = np.concatenate([g.indices(k) for k in range(g.n_groups)])
    assert sorted(seen.tolist()) == list(range(len(labels)))
    values = np.arange(g.n_groups, dtype=float)
    expanded = g.expand(values)
    assert np.allclose(g.sum(expanded), values * g.sizes)


def test_from_indices_validates():
    with pytest.raises(ValueError, match="empty"):
        Groups.from_indices([[0, 1], []], 2)
    with pytest.raises(ValueError, match="out of range"):
        Groups.from_indices([[0, 5]], 3)
    with pytest.raises(ValueError, match="overlap"):
        Groups.from_indices([[0, 1], [1, 2]], 3)
    with pytest.raises(ValueError, match="no group"):
        Groups.from_indices([[0, 1]], 3)


def test_as_groups_defaults():
    assert as_groups(None, 5, n_lam=1).n_groups == 1
    assert as_groups(None, 5, n_lam=5).n_groups == 5
    with pytest.raises(ValueError, match="groups is None"):
        as_groups(None, 5, n_lam=3)
    with pytest.raises(ValueError, match="cover 3"):
        as_groups(Groups.single(3), 5)


def test_scaling_formulas():
    g = Groups.contiguous([1, 4])
    assert scale_weights("uniform", g).tolist() == [1.0, 1.0]
    assert scale_weights("per_element", g, normalize=False).tolist() == [1.0, 0.25]
    assert scale_weights("sqrt_size", g, normalize=False).tolist() == [1.0, 2.0]
    assert scale_weights("fan_in", g, fan_in=[3, 6], normalize=False).tolist() == [3.0, 6.0]
    ref = np.array([2.0, 1.0, 1.0, 1.0, 1.0])
    assert np.allclose(scale_weights("inverse_norm", g, reference=ref, normalize=False), [0.25, 0.25])
    for rule in ("per_element", "sqrt_size"):
        weights = scale_weights(rule, g)
        assert np.isclose(np.dot(g.sizes, weights), g.n_features)  # coefficient-weighted mean 1


def test_scaling_errors():
    g = Groups.contiguous([2, 2])
    with pytest.raises(ValueError, match="rule must be one of"):
        scale_weights("fanin", g)
    with pytest.raises(ValueError, match="fan_in"):
        scale_weights("fan_in", g)
    with pytest.raises(ValueError, match="reference"):
        scale_weights("inverse_norm", g, reference=np.ones(3))


def test_labels_mixing_numbers_and_strings_are_refused():
    # numpy would turn [1, "1", 2] into strings and put the first two coefficients in one group
    with pytest.raises(TypeError, match="one sortable kind"):
        Groups.from_labels([1, "1", 2])
    assert Groups.from_labels(["1", "1", "2"]).names == ("1", "2")
    assert Groups.from_labels(np.array(["a", "b", "a"])).n_groups == 2
    from lamina.groups import as_groups   # the estimators' path: it had made an array of the list first
    with pytest.raises(TypeError, match="one sortable kind"):
        as_groups([1, 1, 1, "1", "1", "1"], 6)
    assert as_groups([1, 1, 2], 3).n_groups == 2
