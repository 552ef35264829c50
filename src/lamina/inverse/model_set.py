"""The candidate models :func:`lamina.inverse.reconstruct.reconstruct` chooses among: by default
the smoothness priors, the spectral prior and the frames of :func:`default_dictionaries` (and,
where whole lines are missing, splines across them and the f-k frame); or the models the user
names or builds."""
from __future__ import annotations

from lamina.inverse.dictionaries import Dictionary, default_dictionaries, make_dictionary
from lamina.inverse.fk import FKFrame
from lamina.inverse.smoothing import SmoothnessPrior
from lamina.inverse.spectral import SpectralPrior


def candidate_models(shape, dictionary, axis=None, per_group: bool = True):
    """The candidate models; by default the smoothness priors, the spectral prior (not on masks
    of whole lines, which it cannot fill; ``per_group=False``: its one-λ, white-noise form), the frames of
    :func:`default_dictionaries`, and for a 2-D mask with whole lines missing (``axis`` the
    axis the lines run along, :func:`~lamina.inverse.folds.line_axis`) also the splines of
    order 1–3 across the lines (differences along the other axis only) and the f-k frame with
    time along ``axis``."""
    if dictionary is None:
        orders = (1, 2, 3) if len(shape) == 1 else (1, 2)
        models = [SmoothnessPrior(shape, k) for k in orders]
        models += [SpectralPrior(shape, per_band=per_group)] if axis is None and min(shape) >= 16 else []
        if axis is not None:
            models += [SmoothnessPrior(shape, k, axis=1 - axis) for k in (1, 2, 3)]
        models += default_dictionaries(shape) if min(shape) >= 16 else []
        return models + ([FKFrame(shape, time_axis=axis)] if axis is not None else [])
    items = dictionary if isinstance(dictionary, (list, tuple)) else [dictionary]
    if not items:
        raise ValueError("dictionary is an empty list: name at least one model, or pass None for the defaults")
    models = []
    for item in items:
        if isinstance(item, (Dictionary, SmoothnessPrior, SpectralPrior)):
            if tuple(item.shape) != tuple(shape):
                raise ValueError(f"dictionary {item.name} has shape {item.shape}; the padded signal has {shape} "
                                 f"(pass a name, or build it for that shape)")
            models.append(item)
        elif isinstance(item, str) and item.startswith("spline"):
            order, _, along = item[6:].partition(":axis")
            if not (order.isdigit() or not order) or (_ and not along.isdigit()):
                raise ValueError(f"dictionary {item!r} is not known: use 'spline<k>' or 'spline<k>:axis<a>' "
                                 f"(k = 1, 2 or 3; a = 0 or 1)")
            models.append(SmoothnessPrior(shape, int(order or 2), axis=int(along) if along else None))
        elif item == "spectral":
            models.append(SpectralPrior(shape, per_band=per_group))
        elif isinstance(item, str) and item.partition(":")[0] == "fk":
            if len(shape) != 2:
                raise ValueError(f"dictionary 'fk' needs a 2-D mask, got shape {shape}")
            arg = item.partition(":")[2]
            models.append(FKFrame(shape, time_axis=int(arg) if arg else (1 if axis is None else axis)))
        else:
            models.append(make_dictionary(item, shape))
    return models
