import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lamina import L0, L1, L2, ElasticNet, Groups, GroupL1
from lamina.penalties import make_penalty
from lamina.testing import check_penalty

GROUPS = Groups.from_labels([0, 0, 1, 2, 2, 2])
LAM = np.array([0.5, 1.5, 0.8])
ALL_PENALTIES = [L1(), L2(), L0(), ElasticNet(0.3), GroupL1(),
                 L1(weights=[1, 0, 2, 1, 1, 0.5]), GroupL1(weights=[0.0, 1.0, 2.0])]


@pytest.mark.parametrize("penalty", ALL_PENALTIES, ids=repr)
def test_penalty_contract(penalty):
    check_penalty(penalty, GROUPS, LAM)


def test_values_match_formulas():
    x = np.array([1.0, -2.0, 0.0, 3.0, 0.0, -1.0])
    lam_coef = GROUPS.expand(LAM)
    assert np.isclose(L1().value(x, LAM, GROUPS), np.sum(lam_coef * np.abs(x)))
    assert np.isclose(L2().value(x, LAM, GROUPS), 0.5 * np.sum(lam_coef * x ** 2))
    assert np.isclose(L0().value(x, LAM, GROUPS), np.sum(lam_coef * (x != 0)))
    en = ElasticNet(0.3).value(x, LAM, GROUPS)
    assert np.isclose(en, np.sum(lam_coef * (0.3 * np.abs(x) + 0.35 * x ** 2)))
    assert np.isclose(GroupL1().value(x, LAM, GROUPS), np.dot(LAM, GROUPS.norms(x)))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, 6, elements=st.floats(-10, 10)), st.floats(0.01, 5))
def test_prox_is_nonexpansive_for_convex(x, step):
    y = x + 0.5
    for penalty in (L1(), L2(), ElasticNet(0.6), GroupL1()):
        px, py = penalty.prox(x, LAM, GROUPS, step), penalty.prox(y, LAM, GROUPS, step)
        assert np.linalg.norm(px - py) <= np.linalg.norm(x - y) + 1e-12


def test_zero_factor_means_unpenalized():
    x = np.full(6, 0.01)
    out = L1(weights=[0, 1, 1, 1, 1, 1]).prox(x, LAM, GROUPS, 1.0)
    assert out[0] == 0.01 and np.all(out[1:] == 0)


def test_make_penalty_names_and_errors():
    assert isinstance(make_penalty("group_l1"), GroupL1)
    with pytest.raises(ValueError, match="penalty must be"):
        make_penalty("lasso")
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(1.5)
    with pytest.raises(ValueError, match="one value per coefficient"):
        L1(weights=[1, 2]).value(np.ones(6), LAM, GROUPS)


def test_lam_max_group_direction():
    grad0 = np.array([3.0, 4.0, 1.0, 0.0, 0.0, 2.0])
    assert np.isclose(GroupL1().lam_max(grad0, GROUPS), 5.0)
    assert np.isclose(L1().lam_max(grad0, GROUPS, direction=[1.0, 1.0, 4.0]), 4.0)


@given(st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_in_scaled_coordinates_is_the_same_penalty_on_scaled_coefficients(seed):
    """R'(d ∘ x) = R(x) for L1, L2, group L1 (a scale per group) and L0; None for an elastic-net
    mix and for group L1 with different scales within a group."""
    rng = np.random.default_rng(seed)
    groups = Groups.contiguous([3, 2, 4])
    lam = rng.uniform(0.1, 2.0, groups.n_groups)
    x = rng.standard_normal(9) * (rng.random(9) < 0.7)
    per_group_scale = np.exp(rng.uniform(-5, 5, groups.n_groups))[groups.labels]
    weights = rng.uniform(0.5, 2.0, 9)
    for penalty in (L1(weights=weights), L2(weights=weights), L0(), GroupL1(weights=rng.uniform(0.5, 2, 3))):
        scaled = penalty.in_scaled_coordinates(per_group_scale, groups)
        assert scaled.value(per_group_scale * x, lam, groups) == pytest.approx(penalty.value(x, lam, groups),
                                                                                rel=1e-12, abs=1e-300)
    assert ElasticNet(0.5).in_scaled_coordinates(per_group_scale, groups) is None
    uneven = per_group_scale.copy()
    uneven[0] *= 2.0
    assert GroupL1().in_scaled_coordinates(uneven, groups) is None
