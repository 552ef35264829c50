"""The held-out losses of the linear tuners and their gradients (lamina.tuners.linear_losses)."""
import warnings

import numpy as np
import pytest

from lamina.tuners.linear_losses import Loss, loss_gradient, mean_loss


def _data(loss: Loss, rng):
    n = 7
    if loss is Loss.MULTINOMIAL:
        return rng.integers(0, 3, n).astype(float), rng.normal(size=(n, 3))
    y = rng.normal(size=n) if loss is Loss.SQUARED else rng.integers(0, 2, n).astype(float)
    return y, rng.normal(size=n)


@pytest.mark.parametrize("loss", list(Loss))
@pytest.mark.parametrize("weighted", [False, True])
def test_the_gradient_is_the_derivative_of_the_mean_loss(loss, weighted):
    rng = np.random.default_rng(0)
    y, z = _data(loss, rng)
    weight = rng.uniform(0.2, 2.0, y.shape[0]) if weighted else None
    grad = loss_gradient(loss, y, z, weight)
    step = 1e-6
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (mean_loss(loss, y, up, weight) - mean_loss(loss, y, down, weight)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", list(Loss))
def test_a_fold_of_zero_weight_has_no_mean_and_no_gradient_and_no_warning(loss):
    y, z = _data(loss, np.random.default_rng(1))
    weight = np.zeros(y.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = mean_loss(loss, y, z, weight)
        grad = loss_gradient(loss, y, z, weight)
    assert np.isnan(value)
    assert grad.shape == z.shape and np.all(np.isnan(grad))
