"""The penalty protocol and the datafits (issue 13, "penalty sealed").

(1) no module outside ``lamina/penalties`` tests a penalty's class (parsed with ``ast``);
(2) penalties written here, in one file, work in ``lamina.solve`` and the tuners and give the
    reference answer; (3) a penalty without a needed method is refused by name, never treated
    as L1; (4) datafits against finite differences and scikit-learn's losses.
"""
from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator
from sklearn.linear_model import Lasso as SkLasso
from sklearn.metrics import log_loss

import lamina
import lamina.inverse
from lamina.datafits import Logistic, Multinomial, Quadratic, spectral_norm2
from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.penalties.base import MissingCapability, max_ratio
from lamina.solvers.apg import proximal_gradient
from lamina.solvers.logistic import logistic_regression
from lamina.solvers.multinomial import multinomial_regression
from lamina.tuners.linear import EvidenceTuner, GridCVTuner, HypergradientTuner, OptunaTuner
from lamina.tuners.linear_data import LinearSpec

SRC = pathlib.Path(lamina.__file__).parent


# ----------------------------------------------------------------------------- (1) no class tests
def _penalty_class_names() -> set:
    """Every concrete penalty class lamina defines (the base class itself is a type check)."""
    names, todo = set(), [Penalty]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("lamina.penalties"):
                names.add(sub.__name__)
            todo.append(sub)
    return names


def class_tests(source: str, classes: set) -> list:
    """(line, call) of every isinstance / issubclass / ``type(x) is C`` naming one of
    ``classes`` (imports resolved: an alias of a penalty class counts)."""
    tree = ast.parse(source)
    aliases = set(classes)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            aliases |= {a.asname for a in node.names if a.name in classes and a.asname}

    def names_in(node):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
               {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}

    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2
                and names_in(node.args[1]) & aliases):
            found.append((node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.Eq, ast.IsNot, ast.NotEq))
                                                 for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Call) and getattr(s.func, "id", None) == "type" for s in sides) and \
                    any(names_in(s) & aliases for s in sides if not isinstance(s, ast.Call)):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_checker_finds_class_tests():
    classes = {"L0", "ElasticNet", "GroupL1"}
    snippet = ("from lamina.penalties import L0 as Zero\n"
               "def f(p, q):\n"
               "    a = isinstance(p, (Zero, int))\n"
               "    b = isinstance(q, lamina.penalties.GroupL1)\n"
               "    c = type(p) is ElasticNet\n"
               "    d = isinstance(p, Penalty)\n")
    assert [line for line, _ in class_tests(snippet, classes)] == [3, 4, 5]


def test_no_penalty_class_tests_outside_penalties():
    classes = _penalty_class_names()
    assert {"L0", "L1", "L2", "ElasticNet", "GroupL1"} <= classes
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "penalties" in path.relative_to(SRC).parts:
            continue
        offenders += [f"{path.relative_to(SRC)}:{line}: {call}"
                      for line, call in class_tests(path.read_text(), classes)]
    assert offenders == []


def test_no_module_over_400_lines_in_touched_packages():
    for package in ("penalties", "tuners", "solvers"):
        for path in (SRC / package).glob("*.py"):
            assert len(path.read_text().splitlines()) <= 400, path


# ----------------------------------------------------------------------------- (2) new penalties
class WeightedL1(Penalty):
    """R(x) = Σ_j λ_{g(j)} v_j |x_j| with fixed positive scales v (given here, not as factors)."""

    name = "weighted_l1"
    dof_rule = "support"

    def __init__(self, scales):
        super().__init__()
        self.scales = np.asarray(scales, dtype=np.float64)

    def get_params(self):
        return {"scales": self.scales}

    def _strength(self, lam, groups):
        return groups.expand(lam) * self.scales

    def value(self, x, lam, groups):
        return float(np.dot(self._strength(lam, groups), np.abs(x)))

    def prox(self, x, lam, groups, step):
        t = step * self._strength(lam, groups)
        return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)

    def subdiff_distance(self, x, grad, lam, groups):
        t = self._strength(lam, groups)
        return np.where(x != 0, np.abs(grad + t * np.sign(x)), np.maximum(np.abs(grad) - t, 0.0))

    def separable_l1_l2(self, lam, groups):
        t = self._strength(lam, groups)
        return t, np.zeros_like(t)

    def dual_norm(self, v, groups):
        out = np.zeros(groups.n_groups)
        np.maximum.at(out, groups.labels, np.abs(v) / self.scales)
        return out

    def dual_scale(self, corr, lam, groups):
        return max(1.0, max_ratio(np.abs(corr), self._strength(lam, groups)))

    def conjugate(self, corr, lam, groups):
        return 0.0


class MCP(Penalty):
    """Minimax concave penalty λ ∫₀^|x| (1 − t/(γλ))₊ dt (non-convex), prox only."""

    name = "mcp"
    convex = False

    def __init__(self, gamma: float = 3.0):
        super().__init__()
        self.gamma = float(gamma)

    def get_params(self):
        return {"gamma": self.gamma}

    def value(self, x, lam, groups):
        lam_j, a = groups.expand(lam), np.abs(x)
        inside = lam_j * a - a * a / (2 * self.gamma)
        return float(np.sum(np.where(a <= self.gamma * lam_j, inside, self.gamma * lam_j ** 2 / 2)))

    def prox(self, x, lam, groups, step):
        """Firm thresholding (needs γ > step)."""
        lam_j, a = groups.expand(lam), np.abs(x)
        middle = np.sign(x) * np.maximum(a - step * lam_j, 0.0) / (1.0 - step / self.gamma)
        return np.where(a > self.gamma * lam_j, x, middle)

    def subdiff_distance(self, x, grad, lam, groups):
        lam_j, a = groups.expand(lam), np.abs(x)
        slope = np.maximum(lam_j - a / self.gamma, 0.0) * np.sign(x)
        return np.where(x != 0, np.abs(grad + slope), np.maximum(np.abs(grad) - lam_j, 0.0))


def _data(n=60, p=15, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    x = np.zeros(p)
    x[:4] = [3.0, -2.0, 1.5, 1.0]
    return A, A @ x + 0.3 * rng.standard_normal(n)


@pytest.mark.parametrize("operator", [False, True])
def test_weighted_l1_in_solve_matches_sklearn(operator):
    A, b = _data()
    scales = np.linspace(0.5, 2.0, A.shape[1])
    lam = 0.1 * float(np.max(np.abs(A.T @ b) / scales))
    result = lamina.solve(aslinearoperator(A) if operator else A, b, WeightedL1(scales), lam, tol=1e-12)
    assert result.solver == ("fista" if operator else "coordinate_descent")
    # x_j = u_j / v_j turns the problem into a plain Lasso on A / v
    n = A.shape[0]
    ref = SkLasso(alpha=lam / n, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A / scales, b)
    np.testing.assert_allclose(result.x, ref.coef_ / scales, atol=1e-6)
    assert result.converged


def test_mcp_in_solve_matches_firm_thresholding():
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((40, 12)))        # orthonormal columns
    b = Q @ np.array([4.0, -0.5, 1.2, 0.05] + [0.0] * 8) + 0.01 * rng.standard_normal(40)
    penalty, lam, groups = MCP(gamma=3.0), 0.8, Groups.single(12)
    result = lamina.solve(Q, b, penalty, lam, tol=1e-12)
    assert result.solver == "ista"
    # with QᵀQ = I the objective splits per coordinate: its minimizer is the prox of Qᵀb, step 1
    expected = penalty.prox(Q.T @ b, np.array([lam]), groups, 1.0)
    np.testing.assert_allclose(result.x, expected, atol=1e-9)
    assert np.count_nonzero(expected) == 2  # both branches of the firm threshold are exercised
    assert np.abs(expected[0]) == pytest.approx(np.abs(Q.T @ b)[0])


def test_mcp_on_a_random_design_is_a_prox_gradient_fixed_point():
    A, b = _data(seed=2)
    penalty, lam, groups = MCP(gamma=4.0), np.array([5.0]), Groups.single(A.shape[1])
    result = lamina.solve(A, b, penalty, lam, tol=1e-12, max_iter=50_000)
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    x = result.x
    moved = penalty.prox(x - step * (A.T @ (A @ x - b)), lam, groups, step)
    np.testing.assert_allclose(moved, x, atol=1e-7)
    assert np.max(penalty.subdiff_distance(x, A.T @ (A @ x - b), lam, groups)) < 1e-5


def test_weighted_l1_in_the_search_tuners():
    A, b = _data(n=80)
    groups = Groups.contiguous([5, 5, 5])
    spec = LinearSpec(WeightedL1(np.linspace(0.5, 2.0, 15)), groups, fit_intercept=True)
    for tuner in (GridCVTuner(cv=3, n_lams=8), OptunaTuner(n_trials=6, cv=3)):
        result = tuner.tune(A, b, spec)
        lam = np.array([result.lambdas[name] for name in groups.names])
        assert np.all(np.isfinite(lam)) and np.all(lam > 0)
        assert np.isfinite(result.info["cv_score"])


# ----------------------------------------------------------------------------- (3) refusals
def test_a_penalty_without_prox_cannot_be_built():
    class ValueOnly(Penalty):
        name = "value_only"

        def value(self, x, lam, groups):
            return 0.0

    with pytest.raises(TypeError, match="prox"):
        ValueOnly()


@pytest.mark.parametrize("penalty, solver, missing", [
    (WeightedL1(np.ones(15)), "cholesky", "quadratic_strengths"),
    (WeightedL1(np.ones(15)), "iht", "nonzero_costs"),
    (MCP(), "cd", "separable_l1_l2"),
])
def test_solve_refuses_a_solver_the_penalty_cannot_serve(penalty, solver, missing):
    A, b = _data()
    with pytest.raises(MissingCapability, match=rf"{penalty.name}.*{missing}"):
        lamina.solve(A, b, penalty, 1.0, solver=solver)


def test_solve_refuses_momentum_on_a_nonconvex_penalty():
    A, b = _data()
    with pytest.raises(ValueError, match="convex"):
        lamina.solve(A, b, MCP(), 1.0, solver="fista")


@pytest.mark.parametrize("tuner, missing", [
    (HypergradientTuner(cv=3), "generalized_support"),
    (EvidenceTuner(), "prior_factors"),
])
def test_tuners_refuse_a_penalty_without_their_methods(tuner, missing):
    A, b = _data()
    spec = LinearSpec(WeightedL1(np.ones(15)), Groups.contiguous([5, 5, 5]))
    with pytest.raises(MissingCapability, match=rf"tuner '{tuner.name}'.*weighted_l1.*{missing}"):
        tuner.tune(A, b, spec)


def test_search_tuner_refuses_a_penalty_without_entry_thresholds():
    A, b = _data()
    spec = LinearSpec(MCP(), Groups.contiguous([5, 5, 5]))
    with pytest.raises(MissingCapability, match=r"tuner 'cv'.*mcp.*entry_thresholds"):
        GridCVTuner(cv=3).tune(A, b, spec)


def test_inverse_auto_lambda_refuses_a_penalty_without_df_formula():
    A, b = _data()
    with pytest.raises(ValueError, match="degrees-of-freedom formula.*mcp"):
        lamina.inverse.fit(A, b, MCP())


def test_l0_is_not_treated_as_l1_by_entry_thresholds():
    groups = Groups.single(3)
    grad = np.array([2.0, -4.0, 1.0])
    assert lamina.L0().entry_thresholds(grad, groups).tolist() == [8.0]   # max g²/2
    assert lamina.L1().entry_thresholds(grad, groups).tolist() == [4.0]   # max |g|


def test_supports_reports_capabilities():
    assert lamina.L2().supports("quadratic_strengths") and not lamina.L1().supports("quadratic_strengths")
    assert lamina.GroupL1().supports("block_l2_thresholds") and not lamina.L1().supports("block_l2_thresholds")
    assert lamina.L0().supports("nonzero_costs") and not lamina.L0().supports("dual_norm")
    assert MCP().supports("lam_max") is False and WeightedL1(np.ones(2)).supports("lam_max")
    with pytest.raises(ValueError, match="capability must be one of"):
        lamina.L1().supports("fly")


# ----------------------------------------------------------------------------- (4) datafits
def _designs(A):
    return [A, sp.csr_matrix(A), aslinearoperator(A)]


def _finite_difference(f, x, eps=1e-6):
    out = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = eps
        out[j] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


def _classification(n=50, p=6, K=3, seed=3):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    codes = np.argmax(A @ rng.standard_normal((p, K)) + rng.standard_normal((n, K)), axis=1)
    return A, codes, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_datafit_gradients_match_finite_differences(which):
    A, codes, weight = _classification()
    y = (codes == 0).astype(float)
    rng = np.random.default_rng(4)
    for fit in (Quadratic(_designs(A)[which], rng.standard_normal(A.shape[0])),
                Logistic(_designs(A)[which], y, sample_weight=weight),
                Multinomial(_designs(A)[which], codes, 3, sample_weight=weight)):
        x = 0.3 * rng.standard_normal(fit.n_features)
        np.testing.assert_allclose(fit.gradient(x), _finite_difference(fit.value, x), rtol=1e-6, atol=1e-6)


def test_datafit_values_match_scikit_learn():
    A, codes, weight = _classification()
    rng = np.random.default_rng(5)
    x = rng.standard_normal(A.shape[1])
    y = (codes == 1).astype(float)
    prob = 1.0 / (1.0 + np.exp(-(A @ x)))
    assert Logistic(A, y, weight).value(x) / weight.sum() == pytest.approx(
        log_loss(y, prob, sample_weight=weight), rel=1e-10)
    X = rng.standard_normal((A.shape[1], 3))
    scores = A @ X
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    assert Multinomial(A, codes, 3, weight).value(X.ravel()) / weight.sum() == pytest.approx(
        log_loss(codes, soft, sample_weight=weight, labels=[0, 1, 2]), rel=1e-10)
    b = rng.standard_normal(A.shape[0])
    from sklearn.metrics import mean_squared_error
    assert Quadratic(A, b).value(x) == pytest.approx(0.5 * A.shape[0] * mean_squared_error(b, A @ x), rel=1e-12)


def test_datafit_lipschitz_constants():
    A, codes, weight = _classification(n=80, p=30)
    exact = np.linalg.norm(A, 2) ** 2
    for design in _designs(A):
        assert spectral_norm2(design) == pytest.approx(exact, rel=1e-8)
        assert Quadratic(design, np.zeros(80)).lipschitz() == pytest.approx(exact, rel=1e-8)
        estimate, products = Quadratic(design, np.zeros(80)).lipschitz_estimate(5)
        assert estimate <= exact * (1 + 1e-12) and products == 10
    assert spectral_norm2(A[:, :1]) == pytest.approx(float(A[:, 0] @ A[:, 0]))
    # the bound holds: ‖∇F(x) − ∇F(z)‖ ≤ L ‖x − z‖ on random pairs
    rng = np.random.default_rng(6)
    for fit in (Logistic(A, (codes == 0).astype(float), weight), Multinomial(A, codes, 3, weight)):
        L = fit.lipschitz()
        for _ in range(20):
            x, z = rng.standard_normal((2, fit.n_features))
            assert np.linalg.norm(fit.gradient(x) - fit.gradient(z)) <= L * np.linalg.norm(x - z)


def test_datafits_refuse_bad_targets():
    A = np.ones((4, 2))
    with pytest.raises(ValueError, match="b has 3"):
        Quadratic(A, np.ones(3))
    with pytest.raises(ValueError, match="y must hold"):
        Logistic(A, np.array([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="n_classes"):
        Multinomial(A, np.array([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match="sample_weight"):
        Logistic(A, np.zeros(4), sample_weight=-np.ones(4))
    for n_classes in (3.7, "3", 1):   # 3.7 was read as 3 and "3" accepted
        with pytest.raises((TypeError, ValueError), match="n_classes must be"):
            Multinomial(A, np.array([0, 1, 1, 0]), n_classes)


def test_proximal_gradient_with_logistic_and_multinomial_datafits():
    A, codes, weight = _classification(n=80, p=8)
    y = (codes == 0).astype(float)
    lam = np.array([2.0])
    groups = Groups.single(8)
    ours = proximal_gradient(A, y, lamina.L1(), lam, groups, datafit=Logistic(A, y, weight), tol=1e-8,
                             max_iter=50_000)
    ref = logistic_regression(A, y, lamina.L1(), lam, groups, tol=1e-10, sample_weight=weight)
    assert ours.criterion_name == "relative_violation" and ours.converged
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-5)
    groups3 = Groups.single(24)
    ours = proximal_gradient(A, y, lamina.L1(), lam, groups3, datafit=Multinomial(A, codes, 3, weight), tol=1e-8,
                             max_iter=50_000)
    ref = multinomial_regression(A, codes, 3, lamina.L1(), lam, groups3, tol=1e-10, sample_weight=weight)
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-5)
    with pytest.raises(ValueError, match="datafit must be built on A"):
        proximal_gradient(A, y, lamina.L1(), lam, groups, datafit=Logistic(A[:, :3], y))


# ----------------------------------------------------------------------------- lamina.testing
@pytest.mark.parametrize("penalty, groups", [
    (lamina.L1(), Groups.contiguous([3, 3])), (lamina.L2(), Groups.contiguous([3, 3])),
    (lamina.ElasticNet(0.3, weights=np.arange(6.0)), Groups.contiguous([3, 3])),
    (lamina.GroupL1(weights=[1.0, 2.0]), Groups.contiguous([3, 3])), (lamina.L0(), Groups.contiguous([3, 3])),
    (WeightedL1(np.linspace(0.5, 2.0, 6)), Groups.contiguous([3, 3])), (MCP(gamma=3.0), Groups.contiguous([3, 3])),
])
def test_check_penalty_accepts_the_builtin_and_new_penalties(penalty, groups):
    from lamina.testing import check_penalty
    check_penalty(penalty, groups, np.array([0.4, 0.9]), n_trials=2)


def test_check_penalty_catches_a_capability_that_disagrees_with_value():
    from lamina.testing import check_penalty

    class Wrong(WeightedL1):
        def separable_l1_l2(self, lam, groups):
            t = self._strength(lam, groups)
            return 2 * t, np.zeros_like(t)

    with pytest.raises(AssertionError, match="separable_l1_l2"):
        check_penalty(Wrong(np.ones(6)), Groups.contiguous([3, 3]), np.array([0.4, 0.9]), n_trials=1)

    class WrongHessian(lamina.ElasticNet):
        def hessian_on_support(self, x, lam, groups, support):
            return 2 * super().hessian_on_support(x, lam, groups, support)

    with pytest.raises(AssertionError, match="hessian_on_support"):
        check_penalty(WrongHessian(0.5), Groups.contiguous([3, 3]), np.array([0.4, 0.9]), n_trials=1)
