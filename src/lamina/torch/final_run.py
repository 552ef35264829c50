"""The run on all the data after the held-out calibration of :mod:`lamina.torch.heldout`.

Retrained or continued
----------------------
By default the network is retrained from its initial weights for every epoch at the calibrated δ
(:mod:`lamina.torch.heldout`, "Retrain or continue"); when fine-tuning toward a prior mean, or
where calibrations competed, the calibrated weights continue on all the data with a fresh
optimizer (:func:`lamina.torch.restart.restart`) for the rest of the run's steps.

A retraining that learns nothing
--------------------------------
The calibration moves δ while the network learns; the retraining starts at the final δ. Where
that δ is strong for a network whose signal is weak at initialization, weight decay can win from
the first step: a deep MLP of smooth activations (SiLU(0) = 0) is pulled into the trivial
solution W = 0, whose outputs are constant, and stays there. On a five-layer SiLU MLP (batch 32,
300 digits) every seed's retraining sat at the training loss log 10 for all 150 epochs while its
calibration had reached 0.7 at the same δ: the default returned a network at chance (test NLL
2.303, no penalty 0.42–0.69). A classifier's retraining whose last-epoch training loss is within
2 % of the chance level — the entropy of the class frequencies, what the best constant prediction
reaches — while its calibration ended below that, has collapsed; the calibrated weights then
continue on all the data instead, as ``refit=False`` would (test NLL 0.30–0.55 on those seeds),
and ``info["refit"]`` says ``"collapsed: continued"`` (benchmarks/RESULTS.md, Issue 14, "A
retraining that learns nothing").
"""
from __future__ import annotations

from lamina.torch.data import steps_per_epoch
from lamina.torch.fit import fit, optimizer_groups
from lamina.torch.heldout_budget import continued_epochs
from lamina.torch.likelihoods import at_chance, chance_nll
from lamina.torch.restart import restart

def learned_nothing(losses, chance: float | None) -> bool:
    """Whether the last epoch's mean training loss (``losses``, one per epoch) is within 2 % of
    ``chance`` or above it (:func:`lamina.torch.likelihoods.at_chance`)."""
    return chance is not None and chance > 0 and bool(losses) and at_chance(losses[-1], chance)


def continue_calibrated(model, data, likelihood, recipe, regularizer, epochs: int, rewarm: float = 0.0,
                        progress=False):
    """Train ``model`` (the calibrated weights) on all ``data`` for ``epochs`` with a fresh optimizer
    of the recipe's class, its learning rate re-warmed over ``rewarm`` of the steps."""
    steps = epochs * steps_per_epoch(int(data[0].shape[0]), recipe.batch_size)
    opt, warm = restart(recipe.optimizer, optimizer_groups(regularizer, model), recipe.lr, steps, rewarm)
    return fit(model, data, likelihood=likelihood, epochs=epochs, lr=recipe.lr, batch_size=recipe.batch_size,
               seed=recipe.seed + 1, optimizer=opt, regularizer=regularizer, callbacks=[warm], progress=progress)


def train_on_all_data(model, data, likelihood, recipe, regularizer, *, first: int, stretch: float, refit: bool,
                      init_state, calibration_losses, rewarm: float = 0.0, progress=False):
    """The run after a calibration of ``first`` epochs: ``(fit results, refit as done)``.

    ``refit``: retrain ``model`` from ``init_state`` for the recipe's epochs; should it learn
    nothing (:func:`learned_nothing`) where the calibration (``calibration_losses``) did learn,
    the calibrated weights continue for the rest of the run's steps instead (module doc) and the
    second value is ``"collapsed: continued"``. Otherwise continue the calibrated weights. The
    list of results is empty where no epoch is left."""
    epochs = recipe.epochs
    rest = continued_epochs(epochs, first, stretch)   # the continued run's epochs (0: none left)
    if not refit:
        return ([continue_calibrated(model, data, likelihood, recipe, regularizer, rest, rewarm, progress)]
                if rest else []), False
    calibrated = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(init_state)
    retrained = fit(model, data, likelihood=likelihood, epochs=epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                    seed=recipe.seed + 1, optimizer=recipe.optimizer, regularizer=regularizer, progress=progress)
    chance = chance_nll(likelihood, data[1])
    if not learned_nothing(retrained.history["loss"], chance) or learned_nothing(calibration_losses, chance):
        return [retrained], True
    model.load_state_dict(calibrated)   # (no epoch left to continue: the calibrated weights as they are)
    more = [continue_calibrated(model, data, likelihood, recipe, regularizer, rest, progress=progress)] if rest else []
    return [retrained, *more], "collapsed: continued"
