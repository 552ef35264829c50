"""A user's own signal file through :func:`lamina.inverse.reconstruct` (``lamina sense --signal``).

Files: ``.npy`` (1-D trace or 2-D image), miniSEED (``.mseed``, ``.msd``, ``.miniseed``; first trace,
read with ObsPy when installed), images (``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff``;
grey, with scikit-image). The mask is a boolean ``.npy`` of the signal's shape (True =
observed); without one, a random ``keep`` share of the samples is observed. Since the file holds
every sample, the unobserved ones serve as the truth: the summary gives the SNR of the recovered
unobserved samples for lamina and for the interpolation baselines.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

_MSEED = {".mseed", ".msd", ".miniseed"}
_IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def load_signal(path) -> np.ndarray:
    """The samples of a signal file (see the module docstring) as float64."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"signal file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = np.load(path, allow_pickle=False)
    elif suffix in _MSEED:
        try:
            import obspy
        except ImportError as error:
            raise ImportError('miniSEED files are read with ObsPy: pip install "lamina[examples]"') from error
        data = obspy.read(str(path))[0].data
    elif suffix in _IMAGES:
        try:
            from skimage import io
        except ImportError as error:
            raise ImportError('image files are read with scikit-image: pip install "lamina[examples]"') from error
        data = io.imread(str(path), as_gray=True)
    else:
        raise ValueError(f"signal file must be .npy, miniSEED ({', '.join(sorted(_MSEED))}) or an image "
                         f"({', '.join(sorted(_IMAGES))}); got {path.name!r}")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim not in (1, 2):
        raise ValueError(f"signal file {path.name!r} holds an array of shape {data.shape}; need 1-D or 2-D")
    return data


def load_mask(path, shape) -> np.ndarray:
    """A boolean mask from a ``.npy`` file, checked against the signal's ``shape``."""
    mask = np.load(pathlib.Path(path), allow_pickle=False)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask file {str(path)!r} must hold a boolean array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"mask file {str(path)!r} has shape {mask.shape}; the signal has {tuple(shape)}")
    return mask


def reconstruct_file(signal, mask=None, *, keep: float = 0.5, seed: int = 0, out=None,
                     one_lambda: bool = True) -> dict:
    """Reconstruct a signal file from its observed samples and compare with the baselines.

    Returns {"shape", "observed", "chosen", "weights", "snr_db": {method: dB of the unobserved
    samples}, "one_lambda_snr_db"}; with ``one_lambda`` the same reconstruction is also run with
    one λ for every coefficient of each model (``per_group=False``), the comparison the verdict
    states (None otherwise). With ``out``, writes ``reconstruction.npy``, ``summary.json`` and
    ``report.html`` (:mod:`lamina.report.signal_report`: verdict, tables, figures) there.
    """
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation, pocs_interpolation
    from lamina.inverse.reconstruct import reconstruct

    data = load_signal(signal)
    if mask is None:
        if not 0 < keep < 1:
            raise ValueError(f"keep must lie in (0, 1), got {keep}")
        mask = np.random.default_rng(seed).random(data.shape) < keep
    else:
        mask = load_mask(mask, data.shape)
    result = reconstruct(data, mask, seed=seed)
    missing = ~mask
    estimates = {"lamina": result.x}
    if mask.sum() >= 2 and missing.any():
        estimates.update(linear=linear_interpolation(data, mask), cubic=cubic_interpolation(data, mask),
                         POCS=pocs_interpolation(data, mask))
    snr = {}
    if missing.any():
        energy = float(np.sum(data[missing] ** 2))
        for name, estimate in estimates.items():
            error = float(np.sum((estimate[missing] - data[missing]) ** 2))
            snr[name] = float(10 * np.log10(max(energy, 1e-300) / max(error, 1e-300)))
    single = None
    if one_lambda and missing.any() and "lamina" in snr:
        x = reconstruct(data, mask, seed=seed, per_group=False).x
        single = float(10 * np.log10(max(energy, 1e-300) / max(float(np.sum((x - data)[missing] ** 2)), 1e-300)))
    summary = {"signal": str(signal), "shape": list(data.shape), "observed": int(mask.sum()),
               "chosen": result.dictionary, "weights": result.weights, "score": result.score, "snr_db": snr,
               "one_lambda_snr_db": single}
    if out is not None:
        from lamina.report.signal_report import write_signal_report

        folder = pathlib.Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "reconstruction.npy", result.x)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        write_signal_report(folder, str(signal), data, mask, result, estimates, snr, single)
    return summary


def run_cli(args) -> int:
    """``lamina sense --signal FILE [--mask FILE]``: reconstruct, print the SNR table, write files."""
    summary = reconstruct_file(args.signal, args.mask, keep=args.keep, seed=args.seed, out=args.out)
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"{summary['signal']}: {summary['observed']} of {int(np.prod(summary['shape']))} samples observed; "
              f"lamina chose {summary['chosen']}")
        for name, value in summary["snr_db"].items():
            print(f"  {name:8s} {value:6.1f} dB (unobserved samples)")
        if summary["one_lambda_snr_db"] is not None:
            print(f"  {'one λ':8s} {summary['one_lambda_snr_db']:6.1f} dB (lamina with one λ per model)")
        if args.out:
            print(f"report: {pathlib.Path(args.out) / 'report.html'}")
    return 0
