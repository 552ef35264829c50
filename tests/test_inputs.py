"""Bad and degenerate inputs found by trying lamina as a new user (issue 16, "Numerics and inputs").

Each case once gave a silent wrong answer, a NaN or a raw traceback; each must now give the
exact answer or one clear error naming the argument.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import lamina
from lamina import Groups
from lamina.inverse import fit, irls, recover
from lamina.scaling import scale_weights


@pytest.fixture
def small_problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 30))
    x = np.zeros(30)
    x[[2, 11, 25]] = [1.0, -2.0, 0.5]
    return A, x, A @ x


# ------------------------------------------------------------------ b = 0 and empty A
@pytest.mark.parametrize("method", ["irls", "bp", "irl1", "omp"])
def test_recover_zero_data_returns_the_exact_zero(small_problem, method):
    A, _, _ = small_problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 RuntimeWarning on the way
        result = recover(A, np.zeros(20), method=method)
    assert np.array_equal(result.x, np.zeros(30))
    assert result.residual == 0.0 and result.n_iter == 0


def test_irls_zero_data_on_an_operator(small_problem):
    A, _, _ = small_problem
    result = irls(aslinearoperator(A), np.zeros(20))
    assert np.array_equal(result.x, np.zeros(30)) and result.info["converged"]


@pytest.mark.parametrize("shape, word", [((0, 3), "no rows"), ((3, 0), "no columns")])
@pytest.mark.parametrize("kind", ["dense", "sparse", "operator"])
def test_empty_forward_model_is_refused(shape, word, kind):
    A = np.zeros(shape)
    A = {"dense": A, "sparse": sp.csr_matrix(A), "operator": aslinearoperator(A)}[kind]
    b = np.zeros(shape[0])
    with pytest.raises(ValueError, match=f"A has {word}"):
        lamina.solve(A, b, "l1", 0.1)
    with pytest.raises(ValueError, match=f"A has {word}"):
        recover(A, b)
    with pytest.raises(ValueError, match=f"A has {word}"):
        fit(A, b, "l1", lam=0.1)


# ------------------------------------------------------------------ complex data
COMPLEX_MESSAGE = "complex data is not supported"


def test_complex_matrix_or_data_is_refused(small_problem):
    A, _, b = small_problem
    with pytest.raises(TypeError, match="A holds complex numbers; " + COMPLEX_MESSAGE):
        lamina.solve(A + 1j, b, "l1", 0.1)
    with pytest.raises(TypeError, match="A holds complex"):
        lamina.solve(sp.csr_matrix(A + 1j), b, "l1", 0.1)
    with pytest.raises(TypeError, match="A holds complex"):
        lamina.solve(aslinearoperator(A + 1j), b, "l1", 0.1)
    with pytest.raises(TypeError, match="b holds complex"):
        lamina.solve(A, b + 0j, "l1", 0.1)
    with pytest.raises(TypeError, match="b holds complex"):
        lamina.solve(A, list(b + 1j), "l1", 0.1)
    with pytest.raises(TypeError, match="x0 holds complex"):
        lamina.solve(A, b, "l1", 0.1, x0=np.zeros(30, dtype=complex))
    with pytest.raises(TypeError, match=COMPLEX_MESSAGE):
        recover(A, b + 1j)
    with pytest.raises(TypeError, match=COMPLEX_MESSAGE):
        recover(A + 1j, b)
    with pytest.raises(TypeError, match=COMPLEX_MESSAGE):
        fit(A + 1j, b, "l1", tuner="gcv", n_lams=5)
    with pytest.raises(TypeError, match=COMPLEX_MESSAGE):
        fit(A, b + 1j, "l1", lam=0.1)


@pytest.mark.parametrize("argument", ["b", "x0"])
def test_a_sparse_vector_is_refused_by_name(small_problem, argument):
    # a sparse b or x0 used to pass the boundary and fail deep inside ("setting an array element
    # with a sequence")
    A, _, b = small_problem
    kwargs = {"b": b, "x0": None}
    kwargs[argument] = sp.csr_matrix(np.ones((A.shape[0] if argument == "b" else A.shape[1], 1)))
    with pytest.raises(TypeError, match=f"{argument} must be a dense 1-dimensional array"):
        lamina.solve(A, kwargs["b"], "l1", 0.1, x0=kwargs["x0"])


def test_complex_check_reads_torch_tensors_too():
    torch = pytest.importorskip("torch")
    from lamina._validation import check_finite_array

    assert check_finite_array(torch.ones(3), "X").tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="X holds complex"):
        check_finite_array(torch.ones(3, dtype=torch.complex64), "X")


def test_complex_design_in_an_estimator_is_refused(small_problem):
    """The estimators validate through scikit-learn, whose contract (check_complex_data) is a
    ValueError saying complex data is not supported."""
    A, _, b = small_problem
    with pytest.raises(ValueError, match="Complex data not supported"):
        lamina.Lasso(lam=0.1).fit(A + 1j, b)


# ------------------------------------------------------------------ λ of the wrong kind
LAM_MESSAGE = r"lam must be a non-negative number or one per group \(got "


@pytest.mark.parametrize("lam", [None, {}, {"g0": 0.1}, "0.1", b"0.1", True, [0.1, None], ["0.1", "0.2"],
                                 1 + 2j, object()])
def test_lam_of_the_wrong_kind_gets_one_clear_message(small_problem, lam):
    A, _, b = small_problem
    with pytest.raises(TypeError, match=LAM_MESSAGE):
        lamina.solve(A, b, "l1", lam)
    with pytest.raises((TypeError, ValueError), match="lam must be "):
        fit(A, b, "l1", lam=lam)


def test_lam_numbers_still_accepted(small_problem):
    A, _, b = small_problem
    base = lamina.solve(A, b, "l1", 0.5).x
    for lam in (np.float32(0.5), np.array(0.5), [0.5], np.array([0.5]), 1 // 2 + 0.5):
        np.testing.assert_allclose(lamina.solve(A, b, "l1", lam).x, base)
    assert lamina.solve(A, b, "l1", 0).x.shape == (30,)


# ------------------------------------------------------------------ Groups constructors
@pytest.mark.parametrize("sizes, error, match", [
    ([2.5], TypeError, r"sizes\[0\] must be an integer"),
    ([2, 2.0], TypeError, r"sizes\[1\] must be an integer"),
    ([np.float64(2.0)], TypeError, r"sizes\[0\] must be an integer"),
    ([True, 2], TypeError, r"sizes\[0\] must be an integer"),
    (["2"], TypeError, r"sizes\[0\] must be an integer"),
    ([3, -1], ValueError, r"sizes\[1\] must be >= 1"),
    ([0], ValueError, r"sizes\[0\] must be >= 1"),
    ([], ValueError, "sizes must hold at least one"),
    (3, TypeError, "sizes must be a 1-D sequence"),
    ("22", TypeError, "sizes must be a 1-D sequence"),
    ([[1, 2], [3, 4]], TypeError, "sizes must be a 1-D sequence"),
])
def test_contiguous_refuses_what_is_not_a_positive_integer(sizes, error, match):
    with pytest.raises(error, match=match):
        Groups.contiguous(sizes)


def test_contiguous_accepts_integer_arrays_and_checks_names():
    assert Groups.contiguous(np.array([2, 3])).sizes.tolist() == [2, 3]
    assert Groups.contiguous((np.int32(1), 4)).sizes.tolist() == [1, 4]
    with pytest.raises(ValueError, match=r"names must have one entry per group \(2\), got 1"):
        Groups.contiguous([1, 2], names=["a"])
    with pytest.raises(TypeError, match="names must be a sequence"):
        Groups.contiguous([1, 2], names="ab")


@pytest.mark.parametrize("indices, error, match", [
    ([[0, 1], [2.0]], TypeError, r"groups\[1\] must hold integer indices"),
    ([[True, False], [2]], TypeError, r"groups\[0\] must hold integer indices"),
    ([[0, 1], [-1]], ValueError, r"groups\[1\] has index out of range"),
    ([[[0, 1], [2, 3]]], ValueError, r"groups\[0\] must be a 1-D array"),
])
def test_from_indices_refuses_bad_indices(indices, error, match):
    with pytest.raises(error, match=match):
        Groups.from_indices(indices, 4)


@pytest.mark.parametrize("n", [2.0, True, -1, 0, "3"])
def test_single_and_singletons_need_a_positive_integer(n):
    for build in (Groups.single, Groups.singletons):
        with pytest.raises((TypeError, ValueError), match="n_features must be"):
            build(n)


# ------------------------------------------------------------------ scale_weights
def test_scale_weights_takes_what_as_groups_takes():
    expected = scale_weights("per_element", Groups.contiguous([2, 1]), normalize=False)
    np.testing.assert_allclose(scale_weights("per_element", [0, 0, 1], normalize=False), expected)
    np.testing.assert_allclose(scale_weights("per_element", ["a", "a", "b"], normalize=False), expected)
    np.testing.assert_allclose(scale_weights("per_element", [[0, 1], [2]], normalize=False), expected)
    np.testing.assert_allclose(scale_weights("inverse_norm", [0, 0, 1], reference=[1.0, 1.0, 2.0]),
                               scale_weights("inverse_norm", Groups.contiguous([2, 1]), reference=[1.0, 1.0, 2.0]))


@pytest.mark.parametrize("groups", [None, 3, "abc", {"a": [0]}])
def test_scale_weights_refuses_what_is_not_a_partition(groups):
    with pytest.raises(TypeError, match="groups must be a Groups, a label per coefficient or a list of index"):
        scale_weights("uniform", groups)


# ------------------------------------------------------------------ lamina.torch.tune arguments
def _net_and_data(n_classes=10):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_classes))
    X = torch.randn(24, 4)
    y = torch.arange(24) % n_classes
    return net, X, y


@pytest.mark.parametrize("argument, value, error, match", [
    ("epochs", -1, ValueError, "epochs must be >= 1, got -1"),
    ("epochs", 0, ValueError, "epochs must be >= 1, got 0"),
    ("epochs", 2.5, TypeError, "epochs must be an integer"),
    ("batch_size", 0, ValueError, "batch_size must be >= 1"),
    ("batch_size", "32", TypeError, "batch_size must be an integer"),
    ("lr", 0.0, ValueError, "lr must be finite and > 0"),
    ("lr", -1e-3, ValueError, "lr must be finite and > 0"),
    ("lr", float("nan"), ValueError, "lr must be finite and > 0"),
    ("lr", "0.01", TypeError, "lr must be a real number"),
    ("delta", -1.0, ValueError, "delta must be finite and >=? 0"),   # > 0 for the tuners that multiply δ
    ("seed", -1, ValueError, "seed must be >= 0"),
    ("seed", 1.5, TypeError, "seed must be an integer"),
    ("seed", None, TypeError, "seed must be an integer"),
    ("seed", 2 ** 64, ValueError, r"seed must be an integer in \[0, 2\*\*62\)"),
])
@pytest.mark.parametrize("method", ["heldout", "none"])
def test_tune_recipe_is_validated(argument, value, error, match, method):
    """heldout (the default) ran with epochs=-1 and divided by zero with epochs=0."""
    import lamina.torch as lt

    net, X, y = _net_and_data()
    with pytest.raises(error, match=match):
        lt.tune(net, (X, y), tuner=method, **{"epochs": 1, argument: value})


@pytest.mark.parametrize("label, match", [(12, "class label 12 is out of range for a network with 10 outputs"),
                                          (-1, "class labels must be 0..C-1")])
@pytest.mark.parametrize("where, method", [("train", "heldout"), ("val", "heldout"), ("train", "hypergradient")])
def test_tune_refuses_class_labels_out_of_range(label, match, where, method):
    """Raw torch IndexError before (hypergradient even ran with label 12)."""
    import lamina.torch as lt

    net, X, y = _net_and_data()
    bad = y.clone()
    bad[5] = label
    train, val = ((X, bad), None) if where == "train" else ((X, y), (X, bad))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=f"{where}: {match}"):
        lt.tune(net, train, tuner=method, val=val, epochs=1)
    assert all((v == state[k]).all() for k, v in net.state_dict().items())  # untouched


def test_a_one_logit_binary_classifier_is_told_to_give_two_outputs():
    """One output with BCEWithLogitsLoss is common in PyTorch; the error said only "labels must be 0..0"."""
    torch = pytest.importorskip("torch")
    import lamina.torch as lt

    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    X, y = torch.randn(30, 4), torch.arange(30) % 2
    with pytest.raises(ValueError, match=r"labels must be 0\.\.0\); .*a binary classifier needs 2 outputs"):
        lt.tune(net, (X, y), epochs=1)


def test_tune_label_check_leaves_batchnorm_models_in_training_mode():
    torch = pytest.importorskip("torch")
    import lamina.torch as lt

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X, y = torch.randn(30, 4), torch.arange(30) % 3
    result = lt.tune(net, (X, y), tuner="none", epochs=1, batch_size=10)
    assert result.model.training
    with pytest.raises(ValueError, match="class label 3 is out of range for a network with 3 outputs"):
        lt.tune(net, (X, y + 1), tuner="none", epochs=1)


@pytest.mark.parametrize("n, batch_size, options", [(47, 32, {}), (65, 32, {}), (100, 33, {}),
                                                    (65, 32, {"penalty": "l1", "target_sparsity": 0.9})])
def test_a_batchnorm_network_trains_on_any_number_of_samples(n, batch_size, options):
    """A last minibatch of one sample crashed BatchNorm ("Expected more than 1 value per channel");
    the default tuner trains on a 70 % split whose size the user does not choose."""
    torch = pytest.importorskip("torch")
    import lamina.torch as lt
    from lamina.torch.fit import Batches

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X, y = torch.randn(n, 4), torch.arange(n) % 3
    result = lt.tune(net, (X, y), epochs=3, batch_size=batch_size, seed=0, **options)
    assert all(np.isfinite(v) for v in result.lambdas.values())
    batches = Batches((X, y), lt.Classification(), batch_size, "cpu", 0)
    sizes = [len(b[1]) for b in batches]
    assert sum(sizes) == n and min(sizes) > 1 and len(sizes) == len(batches)   # the one left over joined a batch


def test_class_labels_as_a_column_and_integer_features_are_accepted():
    """y of shape (n, 1) and integer pixels (the digits' 0..16) were raw torch errors."""
    torch = pytest.importorskip("torch")
    import lamina.torch as lt

    net, X, y = _net_and_data()
    counts = (X.abs() * 4).round().long()        # integer features
    torch.manual_seed(0)
    column = lt.tune(net, (counts.numpy(), y[:, None].numpy()), epochs=2, seed=0)
    torch.manual_seed(0)
    net2, _, _ = _net_and_data()
    flat = lt.tune(net2, (counts.float(), y), epochs=2, seed=0)
    assert column.lambdas == pytest.approx(flat.lambdas)
    assert lt.evaluate(column.model, (counts, y))["nll"] == pytest.approx(lt.evaluate(flat.model, (counts.float(), y))["nll"])
    with pytest.raises(ValueError, match=r"train: classification needs one class label per sample .* \(24, 2\)"):
        lt.tune(net, (X, torch.stack([y, y], 1)), epochs=1)



def test_string_labels_are_refused_naming_y_and_read_only_arrays_train_without_a_warning():
    """Class labels given as strings raised torch's "can't convert np.ndarray of type numpy.str_"
    (no argument named); a read-only array (pandas' ``to_numpy()``) made torch warn "The given NumPy
    array is not writable" on every call."""
    pytest.importorskip("torch")
    import lamina.torch as lt

    net, X, y = _net_and_data()
    words = np.array(["cat", "dog", "owl"])[y.numpy() % 3]
    with pytest.raises(TypeError, match=r"train: y must hold numbers, got an array of dtype <U3 .*LabelEncoder"):
        lt.tune(net, (X.numpy(), words), epochs=1, seed=0)
    with pytest.raises(TypeError, match=r"train: X must hold numbers"):
        lt.tune(net, (np.full(X.shape, "a"), y.numpy()), epochs=1, seed=0)
    features, labels = X.numpy().copy(), y.numpy().copy()
    features.flags.writeable = labels.flags.writeable = False
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not writable")
        result = lt.tune(net, (features, labels), epochs=2, seed=0)
        lt.fit(net, (features, labels), epochs=1)
    assert all(np.isfinite(v) for v in result.lambdas.values())
    objects = lt.tune(net, (features.astype(object), labels.astype(object)), epochs=1, seed=0)   # numbers as objects
    assert objects.lambdas

def test_integer_inputs_of_an_embedding_stay_token_ids():
    torch = pytest.importorskip("torch")
    import lamina.torch as lt

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Flatten(), torch.nn.Linear(32, 3))
    X, y = torch.randint(0, 20, (40, 4)), torch.arange(40) % 3
    result = lt.tune(net, (X, y), epochs=2, seed=0)
    assert set(result.lambdas) >= {"2.weight"}


# ------------------------------------------------------------------ optional example data
def test_seismogram_without_obspy_names_the_extra(monkeypatch):
    import sys

    from lamina.inverse import seismogram_recovery

    monkeypatch.setitem(sys.modules, "obspy", None)  # import obspy → ImportError
    with pytest.raises(ImportError, match=r'"examples" extra: pip install "lamina\[examples\]"'):
        seismogram_recovery(n_samples=256)


def test_obspy_is_an_extra_not_a_core_dependency():
    import pathlib
    import tomllib

    project = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert not any(dep.lower().startswith("obspy") for dep in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(dep.startswith("obspy") for dep in extras["examples"])
    assert any(dep.startswith("obspy") for dep in extras["dev"])  # the suite still runs the example


def test_peak_window_cuts_around_the_largest_amplitude_and_names_bad_input():
    from lamina.inverse.sensing import peak_window
    data = np.zeros(100)
    data[70] = -3.0
    window = peak_window(data, 30)
    assert window.shape == (30,) and window.min() == -1.0
    assert int(np.argmin(window)) == 10                      # a third of the window before the peak
    with pytest.raises(TypeError, match="n_samples"):
        peak_window(data, 2.5)
    with pytest.raises(ValueError, match="n_samples"):
        peak_window(data, 0)
    with pytest.raises(ValueError, match="data"):
        peak_window(np.zeros((4, 4)), 3)
    with pytest.raises(ValueError, match="constant"):
        peak_window(np.ones(10), 5)
