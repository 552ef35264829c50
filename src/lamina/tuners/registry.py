"""The names ``tuner=`` accepts, per family — the one place where a tuner registers itself.

lamina tunes a λ vector in three families:

* ``"linear"`` — the scikit-learn estimators (``lamina.Lasso(lam="auto", tuner=...)`` …);
* ``"inverse"`` — :func:`lamina.inverse.fit` (``lam="auto"``);
* ``"network"`` — :func:`lamina.torch.tune`.

Every family takes ``tuner=`` as a name listed here or a tuner object. A tuner object that
works on any :class:`~lamina.tuners.problem.TunableProblem` (:class:`~lamina.tuners.search.GridSearch`,
:class:`~lamina.tuners.search.OptunaSearch`, :class:`~lamina.tuners.search.HypergradientSearch`)
serves all three; the family builds the problem (:func:`lamina.tuners.problem.as_problem`).
:class:`~lamina.tuners.evidence_search.EvidenceSearch` serves the families whose problems give
the evidence statistics (linear L2 models, squared or logistic loss, as ``"evidence_search"``, inverse L2 as ``"evidence"``);
networks keep their online evidence (``"evidence"``).

>>> "grid" in available("network") and "gcv" in available("inverse")
True
>>> sorted(available())
['inverse', 'linear', 'network']

Registering is one call; a "module:attribute" target is imported only when the name is used::

    register("mytuner", "inverse", "mypackage.tuners:MyTuner", "what it does, in one line")

A registered :class:`~lamina.tuners.search.ProblemTuner` class is built with no arguments
(``cv`` set to the family's folds where it has one).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

FAMILIES = ("linear", "inverse", "network")


@dataclass(frozen=True)
class Entry:
    """One registered tuner: its name in a family, where it lives, and a one-line summary."""

    name: str
    family: str
    target: object
    summary: str

    def load(self):
        """The registered object (a class, a factory or the family's tuner function)."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    @property
    def generic(self) -> bool:
        """Whether the target is a tuner of any TunableProblem (it has ``tune_problem``)."""
        return callable(getattr(self.load(), "tune_problem", None))


_ENTRIES: dict[tuple[str, str], Entry] = {}


def register(name: str, family: str, target, summary: str) -> None:
    """Register ``target`` under ``name`` for ``family``: "module:attribute" (imported when the
    name is first used) or the object itself (e.g. a ProblemTuner subclass defined in a script).

    Raises ValueError for an unknown family or a name already taken in it.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")
    if (family, name) in _ENTRIES:
        raise ValueError(f"tuner {name!r} is already registered for family {family!r}")
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"target must be 'module:attribute' or the object itself; got {target!r}")
    _ENTRIES[(family, name)] = Entry(name, family, target, summary)


def available(family: str | None = None):
    """Names ``tuner=`` accepts: a list for one family, or {family: list} for all of them."""
    if family is None:
        return {f: available(f) for f in FAMILIES}
    _check_family(family)
    return [name for (f, name) in _ENTRIES if f == family]


def describe(family: str) -> dict[str, str]:
    """{name: one-line summary} of a family's tuners (for help texts and docs)."""
    _check_family(family)
    return {entry.name: entry.summary for (f, _), entry in _ENTRIES.items() if f == family}


def entry(name, family: str, argument: str = "tuner") -> Entry:
    """The entry of ``name`` in ``family``, or one ValueError naming ``argument`` and listing
    the choices."""
    _check_family(family)
    if isinstance(name, str) and (family, name) in _ENTRIES:
        return _ENTRIES[(family, name)]
    choices = ", ".join(repr(n) for n in available(family))
    raise ValueError(f"{argument} must be one of {choices} (lamina.tuners.available({family!r})) "
                     f"or a tuner object; got {name!r}")


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")


# --------------------------------------------------------------------------- the registrations
_GENERIC = {
    "grid": ("lamina.tuners.search:GridSearch",
             "one λ for all groups (λ = t·direction) on a log grid, K-fold or hold-out loss, then a refit"),
    "search": ("lamina.tuners.search:OptunaSearch",
               "Optuna TPE over the vector log λ (ask/tell), pruning on intermediate losses, then a refit"),
    "descent": ("lamina.tuners.search:HypergradientSearch",
                "L-BFGS-B on log λ with exact hypergradients of the held-out loss, single-λ start and "
                "re-entry probes for groups switched off (families that give hypergradients)"),
}
for _name, (_target, _summary) in _GENERIC.items():
    for _family in FAMILIES:
        register(_name, _family, _target, _summary)

register("auto", "linear", "lamina.tuners.linear:make_tuner",
         "the evidence for ridge-type models without folds, else the hypergradient")
register("evidence", "linear", "lamina.tuners.linear:EvidenceTuner",
         "grouped MacKay/ARD fixed point (exact for ridge; Laplace for logistic)")
register("hypergradient", "linear", "lamina.tuners.linear:HypergradientTuner",
         "implicit-differentiation descent of the K-fold loss on log λ, multi-start and re-entry probes")
register("cv", "linear", "lamina.tuners.linear:GridCVTuner",
         "one λ on a warm-started path, K-fold CV (folds in parallel)")
register("optuna", "linear", "lamina.tuners.linear:OptunaTuner", "Optuna TPE over log λ, K-fold criterion")

register("evidence_search", "linear", "lamina.tuners.evidence_search:EvidenceSearch",
         "the evidence fixed point written once (EvidenceSearch): ridge (exact posterior) or L2 logistic (Laplace)")

register("evidence", "inverse", "lamina.tuners.evidence_search:EvidenceSearch",
         "MacKay evidence fixed point per group (exact Gaussian posterior, L2 penalty; noise learned)")
register("cv", "inverse", "lamina.inverse.tunable:KFoldCV",
         "5-fold CV over held-out measurements along a warm-started path (default)")
register("gcv", "inverse", "lamina.inverse.rules:GCV", "generalized cross-validation m‖r‖²/(m − df)²")
register("sure", "inverse", "lamina.inverse.rules:SURE", "Stein's unbiased risk estimate (σ given or estimated)")
register("discrepancy", "inverse", "lamina.inverse.rules:Discrepancy", "Morozov: largest λ with ‖r‖ ≤ √m σ")
register("lcurve", "inverse", "lamina.inverse.rules:LCurve", "corner of the L-curve (largest curvature)")

register("heldout", "network", "lamina.torch.heldout:tune_heldout",
         "held-out calibration of one common weight scale over the ratio rule (the default for classifiers)")
register("evidence", "network", "lamina.torch.tune:tune_online",
         "online MacKay fixed point per group (K-FAC / diagonal GGN curvature; the default for regression)")
register("hypergradient", "network", "lamina.torch.hypergradient:tune_hypergradient",
         "online implicit-differentiation gradient of a held-out loss w.r.t. log δ")
register("cv", "network", "lamina.torch.baselines:tune_cv", "one δ by K-fold CV over 13 values, then a refit")
register("optuna", "network", "lamina.torch.baselines:tune_optuna",
         "Optuna TPE of the δ vector on a held-out split, median pruning, then a refit")
register("fixed", "network", "lamina.torch.tune:tune_online", "δ from a scaling rule (rule=) and delta=, no tuning")
register("none", "network", "lamina.torch.tune:tune_online", "no regularization (δ = 0)")
