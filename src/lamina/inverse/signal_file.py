"""A user's own signal file through :func:`lamina.inverse.reconstruct` (``lamina sense --signal``,
``lamina invert --signal``).

Files: ``.npy`` (1-D trace or 2-D image), miniSEED (``.mseed``, ``.msd``, ``.miniseed``; first trace,
read with ObsPy when installed), images (``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff``;
grey, with scikit-image). The mask is a boolean ``.npy`` of the signal's shape (True =
observed); without one, a random ``keep`` share of the finite samples is observed. Since the file holds
every sample, the unobserved ones serve as the truth: the summary gives the SNR of the recovered
unobserved samples for lamina and for the interpolation baselines (where the file holds them: NaN at an
unobserved sample means unknown; ``inf`` dB, ``null`` in JSON, an exact recovery).
"""
from __future__ import annotations

import io
import json
import pathlib

import numpy as np

from lamina._files import write_atomically
from lamina._validation import check_positive_int
from lamina.inverse.samples import as_boolean_mask

_MSEED = {".mseed", ".msd", ".miniseed"}
_IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def _existing_file(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} file {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist")
    return path


def _load_npy(path: pathlib.Path, what: str) -> np.ndarray:
    """``np.load`` without pickles; a file that is not a .npy array of numbers is refused by name
    (numpy's own message tells to load pickles unsafely)."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{what} file {str(path)!r} is not a .npy array of numbers "
                         f"({type(error).__name__}: {str(error).splitlines()[0][:80]})") from None


def load_signal(path) -> np.ndarray:
    """The samples of a signal file (see the module docstring) as float64."""
    path = _existing_file(path, "signal")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = _load_npy(path, "signal")
    elif suffix in _MSEED:
        try:
            import obspy
        except ImportError as error:
            raise ImportError('miniSEED files are read with ObsPy: pip install "lamina[examples]"') from error
        try:
            stream = obspy.read(str(path))
        except Exception as error:   # ObsPy: TypeError "Unknown format", struct errors …
            raise ValueError(f"signal file {str(path)!r} could not be read as miniSEED "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:80]})") from None
        if len(stream) == 0:
            raise ValueError(f"signal file {str(path)!r} holds no miniSEED trace")
        data = stream[0].data
    elif suffix in _IMAGES:
        try:
            from skimage import io
        except ImportError as error:
            raise ImportError('image files are read with scikit-image: pip install "lamina[examples]"') from error
        try:
            data = io.imread(str(path), as_gray=True)
        except Exception as error:   # imageio: OSError "Could not find a backend" …
            raise ValueError(f"signal file {str(path)!r} could not be read as an image "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:80]})") from None
    else:
        raise ValueError(f"signal file must be .npy, miniSEED ({', '.join(sorted(_MSEED))}) or an image "
                         f"({', '.join(sorted(_IMAGES))}); got {path.name!r}")
    data = np.asarray(data)
    if np.iscomplexobj(data) or not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        raise ValueError(f"signal file {path.name!r} must hold real numbers, got dtype {data.dtype}")
    data = data.astype(np.float64)
    if data.ndim not in (1, 2):
        raise ValueError(f"signal file {path.name!r} holds an array of shape {data.shape}; need 1-D or 2-D")
    return data


def load_mask(path, shape) -> np.ndarray:
    """A boolean mask from a ``.npy`` file (or an array), checked against the signal's ``shape``; 0/1
    integers read as boolean, as :func:`lamina.inverse.reconstruct` reads them."""
    if isinstance(path, (str, pathlib.PurePath)):
        path = _existing_file(path, "mask")
        if path.suffix.lower() != ".npy":
            raise ValueError(f"mask file {str(path)!r} must be a boolean .npy array (numpy.save), got a "
                             f"{path.suffix or 'suffix-less'} file")
        mask, what = _load_npy(path, "mask"), f"mask file {str(path)!r}"
    else:
        mask, what = np.asarray(path), "mask"
    mask = as_boolean_mask(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{what} must hold a boolean array (True = observed; 0/1 integers accepted), "
                        f"got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{what} has shape {mask.shape}; the signal has {tuple(shape)}")
    return mask


def snr_db(estimate, data, truth, energy: float) -> float:
    """10 log₁₀(energy / error) on the samples ``truth``; ``inf`` when they are recovered exactly."""
    error = float(np.sum((estimate[truth] - data[truth]) ** 2))
    return float(10 * np.log10(energy / error)) if error > 0 else float("inf")


def _finite_or_none(value):
    """JSON has no ∞ or NaN: an exact recovery's SNR is written as null."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    return value if not isinstance(value, float) or np.isfinite(value) else None


STAGES = ("lamina", "baselines", "one λ", "report")   # what reconstruct_file reports to ``progress``


def reconstruct_file(signal, mask=None, *, keep: float = 0.5, seed: int = 0, out=None,
                     one_lambda: bool = True, progress=None) -> dict:
    """Reconstruct a signal file from its observed samples and compare with the baselines.

    Returns {"shape", "observed", "chosen", "weights", "snr_db": {method: dB of the unobserved
    samples}, "one_lambda_snr_db"}; with ``one_lambda`` the same reconstruction is also run with
    one λ for every coefficient of each model (``per_group=False``), the comparison the verdict
    states (None otherwise). With ``out``, writes ``reconstruction.npy``, ``summary.json`` and
    ``report.html`` (:mod:`lamina.report.signal_report`: verdict, tables, figures) there.
    ``progress(stage)`` (optional) as each of :data:`STAGES` starts (a 512² photograph takes a
    minute in ``reconstruct`` alone, twice that with ``one_lambda``).
    """
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation, pocs_interpolation
    from lamina.inverse.reconstruct import reconstruct

    check_positive_int(seed, "seed", minimum=0)   # before numpy draws the mask with it
    data = load_signal(signal)
    if mask is None:
        if isinstance(keep, bool) or not isinstance(keep, (int, float, np.number)) or not 0 < keep < 1:
            raise ValueError(f"keep must lie in (0, 1), got {keep!r}")
        # NaN or inf in the file: unknown samples, never drawn as observed
        mask = (np.random.default_rng(seed).random(data.shape) < keep) & np.isfinite(data)
        if not mask.any():
            raise ValueError(f"signal file {str(signal)!r}: no finite sample was drawn as observed "
                             f"(keep={keep}, {int(np.isfinite(data).sum())} finite samples)")
    else:
        mask = load_mask(mask, data.shape)   # an all-False mask: reconstruct's own check names it
        bad = mask & ~np.isfinite(data)
        if bad.any():
            raise ValueError(f"signal file {str(signal)!r} holds NaN or infinite values at {int(bad.sum())} "
                             f"observed samples (True in the mask), the first at index "
                             f"{tuple(int(i) for i in np.argwhere(bad)[0])}; mark unknown samples False in the mask")
    progress = progress or (lambda stage: None)
    progress("lamina")
    result = reconstruct(data, mask, seed=seed)
    progress("baselines")
    missing = ~mask
    estimates = {"lamina": result.x}
    if mask.sum() >= 2 and missing.any():
        estimates.update(linear=linear_interpolation(data, mask), cubic=cubic_interpolation(data, mask),
                         POCS=pocs_interpolation(data, mask))
    truth = missing & np.isfinite(data)   # unobserved samples the file holds (NaN: unknown)
    energy = float(np.sum(data[truth] ** 2))
    snr = {name: snr_db(estimate, data, truth, energy) for name, estimate in estimates.items()} if energy > 0 else {}
    single = None
    if one_lambda and "lamina" in snr and result.dictionary not in ("constant", "observed"):
        progress("one λ")
        single = snr_db(reconstruct(data, mask, seed=seed, per_group=False).x, data, truth, energy)
    summary = {"signal": str(signal), "shape": list(data.shape), "observed": int(mask.sum()),
               "chosen": result.dictionary, "weights": result.weights, "score": result.score, "snr_db": snr,
               "one_lambda_snr_db": single}
    if out is not None:
        from lamina.report.signal_report import write_signal_report

        progress("report")
        folder = pathlib.Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        array = io.BytesIO()
        np.save(array, result.x)
        # each file whole or the previous one: a run killed mid-write leaves nothing truncated
        write_atomically(folder / "reconstruction.npy", array.getvalue())
        write_atomically(folder / "summary.json", json.dumps(_finite_or_none(summary), indent=2, allow_nan=False))
        write_signal_report(folder, str(signal), data, mask, result, estimates, snr, single)
    return summary


def run_cli(args) -> int:
    """``lamina sense|invert --signal FILE [--mask FILE]``: reconstruct, print the SNR table, write files."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(STAGES), desc="reconstruct", unit="stage", disable=args.quiet)
    started = []

    def progress(stage):   # a stage starts: the one before it is done
        bar.update(len(started) > 0)
        started.append(stage)
        bar.set_postfix_str(stage)

    try:
        summary = reconstruct_file(args.signal, args.mask, keep=args.keep, seed=args.seed, out=args.out,
                                   progress=progress)
        bar.update(bar.total - bar.n)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(_finite_or_none(summary), allow_nan=False))
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
