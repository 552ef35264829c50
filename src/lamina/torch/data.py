"""Training data as tensors: ``(X, y)`` checked and moved to the model's device and dtype, and
the shuffled minibatches :func:`lamina.torch.fit.fit` trains on (or a DataLoader's batches)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.likelihoods import Classification


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def to_tensor(values, argument: str = "train", name: str = "X") -> torch.Tensor:
    """``values`` (a tensor, array, list or DataFrame) as a tensor. A numeric array is shared where
    it is writable and copied where it is not (pandas' ``to_numpy()`` returns read-only arrays,
    which torch warns about); an object array is read as float64; strings or anything else torch
    cannot hold are refused with a ``TypeError`` naming ``argument`` and ``name``."""
    if isinstance(values, torch.Tensor):
        return values
    array = np.asarray(values)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{argument}: {name} must hold numbers, got an array of dtype {array.dtype}"
                        + (" (encode class labels as 0..C-1, e.g. with sklearn.preprocessing.LabelEncoder)"
                           if name == "y" else ""))
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array)


def float_features(data, model: nn.Module):
    """``(X, y)`` with integer or boolean X (pixel counts, 0/1 features) cast to the model's
    float dtype — a Linear or Conv layer cannot take them — unless the model embeds integer
    inputs (an ``nn.Embedding``/``nn.EmbeddingBag``: token ids stay integers). A DataLoader gets
    the same cast batch by batch (:func:`casting_loader`); anything else passes through."""
    if any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules()):
        return data
    if isinstance(data, torch.utils.data.DataLoader):
        return casting_loader(data, model_dtype(model))
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return data
    X, y = data
    X = to_tensor(X, "train", "X")
    if X.is_floating_point() or X.is_complex():
        return data
    return type(data)((X.to(model_dtype(model)), y))


class CastFeatures:
    """A DataLoader ``collate_fn`` that casts integer or boolean X of each (X, y) batch to a
    float dtype after the loader's own collation (a class, not a closure: worker processes
    pickle it)."""

    def __init__(self, collate_fn, dtype: torch.dtype):
        self.collate_fn, self.dtype = collate_fn, dtype

    def __call__(self, samples):
        batch = self.collate_fn(samples)
        if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor) \
                and not (batch[0].is_floating_point() or batch[0].is_complex()):
            return type(batch)((batch[0].to(self.dtype), batch[1]))
        return batch


def casting_loader(loader: torch.utils.data.DataLoader, dtype: torch.dtype) -> torch.utils.data.DataLoader:
    """``loader`` over the same dataset, sampler, batching and workers, whose batches have float X
    (:class:`CastFeatures`); an iterable dataset or an unbatched loader is returned as it is."""
    if isinstance(loader.collate_fn, CastFeatures) or loader.batch_sampler is None \
            or isinstance(loader.dataset, torch.utils.data.IterableDataset):
        return loader
    options = {"num_workers": loader.num_workers, "collate_fn": CastFeatures(loader.collate_fn, dtype),
               "pin_memory": loader.pin_memory, "timeout": loader.timeout, "worker_init_fn": loader.worker_init_fn,
               "multiprocessing_context": loader.multiprocessing_context, "generator": loader.generator,
               "persistent_workers": loader.persistent_workers}
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    if loader.batch_size is not None:   # the default BatchSampler: keep batch_size and drop_last readable
        options.update(batch_size=loader.batch_size, sampler=loader.sampler, drop_last=loader.drop_last)
    else:
        options["batch_sampler"] = loader.batch_sampler
    return torch.utils.data.DataLoader(loader.dataset, **options)


def all_samples(loader: torch.utils.data.DataLoader, argument: str = "train"):
    """(X, y): every sample of ``loader``'s dataset once, in the dataset's order, for the tuners
    that split the samples themselves — a ``drop_last`` or a shuffle of the loader does not
    apply (an iterable dataset or a custom batch sampler is read through the loader itself)."""
    if loader.batch_size is not None and not isinstance(loader.dataset, torch.utils.data.IterableDataset):
        loader = torch.utils.data.DataLoader(loader.dataset, batch_size=loader.batch_size, shuffle=False,
                                             collate_fn=loader.collate_fn, num_workers=loader.num_workers)
    xs, ys = zip(*loader_pairs(loader, argument))
    return torch.cat(xs), torch.cat(ys)


def as_tensors(data, likelihood, device, argument: str = "train", dtype=None):
    """``(X, y)`` as tensors on ``device`` (float inputs of ``dtype``, default float32 for
    float64 arrays; long labels for classification); a DataLoader's samples all at once
    (:func:`all_samples`)."""
    if isinstance(data, torch.utils.data.DataLoader):
        data = all_samples(data, argument)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{argument} must be a pair (X, y) of tensors/arrays or a DataLoader, "
                        f"got {type(data).__name__}")
    X, y = data
    X, y = to_tensor(X, argument, "X"), to_tensor(y, argument, "y")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{argument}: X has {X.shape[0]} samples but y has {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError(f"{argument} is empty")
    if X.is_floating_point():
        if dtype is None:
            dtype = torch.get_default_dtype() if X.dtype == torch.float64 else X.dtype
        X = X.to(device=device, dtype=dtype)
    else:
        X = X.to(device)
    if isinstance(likelihood, Classification):
        if y.ndim == 2 and y.shape[1] == 1:   # labels as a column: one label per sample
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{argument}: classification needs one class label per sample (y of shape (n,)), "
                             f"got y of shape {tuple(y.shape)}")
        if y.is_floating_point() and not torch.all(y == y.round()):
            raise ValueError(f"{argument}: classification needs integer class labels in y")
        y = y.to(device=device, dtype=torch.long)
    else:
        y = y.to(device=device, dtype=X.dtype if X.is_floating_point() else torch.get_default_dtype())
    if X.is_floating_point() and not torch.isfinite(X).all():
        raise ValueError(f"{argument}: X contains NaN or inf")
    if y.is_floating_point() and not torch.isfinite(y).all():
        raise ValueError(f"{argument}: the regression targets y contain NaN or inf")
    return X, y


def batch_bounds(n_data: int, batch_size: int) -> list[int]:
    """Boundaries of the minibatches of an epoch over ``n_data`` samples; a last batch of one
    sample joins the one before it: a BatchNorm layer cannot normalize one sample in training
    mode, and the tuners train on splits whose sizes the user does not choose."""
    bounds = list(range(0, n_data, batch_size)) + [n_data]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return bounds


def steps_per_epoch(n_data: int, batch_size: int) -> int:
    """Optimizer steps of one epoch of :class:`Batches` over ``n_data`` tensor samples."""
    return len(batch_bounds(n_data, batch_size)) - 1


def check_loader(loader: torch.utils.data.DataLoader, argument: str = "train") -> None:
    """A DataLoader lamina can train on: a dataset with a length (N, the number of samples, scales
    the penalty 1/N Σ_g …)."""
    if isinstance(loader.dataset, torch.utils.data.IterableDataset) or not hasattr(loader.dataset, "__len__"):
        raise ValueError(f"{argument}: a DataLoader over a dataset with a length is needed (N, the number of "
                         f"training samples, scales the penalty), got a {type(loader.dataset).__name__}")


def loader_pairs(loader: torch.utils.data.DataLoader, argument: str = "train"):
    """The (X, y) batches of ``loader``; a clear error where it yields single samples or other things."""
    if loader.batch_size is None and loader.batch_sampler is None:
        raise ValueError(f"{argument}: the DataLoader must batch its samples (batch_size=None yields them one by one)")
    for batch in loader:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            size = f" of {len(batch)}" if isinstance(batch, (tuple, list)) else ""
            raise ValueError(f"{argument}: the DataLoader must yield (X, y) pairs, got a {type(batch).__name__}{size}")
        yield tuple(batch)


class Batches:
    """Shuffled minibatches of tensors (on their device) or the batches of a DataLoader."""

    def __init__(self, data, likelihood, batch_size: int, device, seed: int, argument: str = "train",
                 dtype=None):
        self.loader = None
        if isinstance(data, torch.utils.data.DataLoader):
            check_loader(data, argument)
            self.loader = data
            self.n_data = len(data.dataset)
            self.device = device
            self.dtype = dtype
        else:
            self.X, self.y = as_tensors(data, likelihood, device, argument, dtype)
            self.n_data = int(self.X.shape[0])
            if int(batch_size) < 1:
                raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
            self.batch_size = int(batch_size)
            self.generator = torch.Generator(device=self.X.device)
            self.generator.manual_seed(int(seed))
        self.likelihood, self.argument = likelihood, argument

    def __iter__(self):
        if self.loader is not None:
            for batch in loader_pairs(self.loader, self.argument):
                yield as_tensors(batch, self.likelihood, self.device, dtype=self.dtype)
            return
        perm = torch.randperm(self.n_data, generator=self.generator, device=self.X.device)
        bounds = self._bounds()
        for start, stop in zip(bounds[:-1], bounds[1:]):
            index = perm[start:stop]
            yield self.X[index], self.y[index]

    def _bounds(self) -> list[int]:
        return batch_bounds(self.n_data, self.batch_size)

    def __len__(self):
        return len(self.loader) if self.loader is not None else len(self._bounds()) - 1

    def state(self):
        return None if self.loader is not None else self.generator.get_state()

    def set_state(self, state):
        if state is not None and self.loader is None:
            self.generator.set_state(state)
