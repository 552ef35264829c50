"""Full-size photographs: ``reconstruct`` choosing on a window against choosing on the whole image.

scikit-image's photographs at their own size (grey, scaled to [0, 1]), a random share of the
pixels kept (mask seed 0). For each: lamina's default (``select_window="auto"``: models, weights
and λ chosen by cross-validation on the central 160 × 160 window, the mixture fitted once on the
whole image; :mod:`lamina.inverse.window`), the same with ``select_window=None`` (chosen on the
whole image), and linear interpolation (SciPy). Score: SNR of the unobserved pixels in dB,
10 log₁₀(‖x_miss − mean‖² / ‖x̂_miss − x_miss‖²); seconds per call.

Usage: ``python benchmarks/bench_large_images.py [--images camera:0.3 coins:0.5 …] [--auto-only]``;
prints a markdown table. Choosing on the whole of a 512² image takes minutes per call.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULT = ["camera:0.3", "coins:0.5", "astronaut:0.7", "moon:0.3"]


def load(name: str) -> np.ndarray:
    from skimage import color, data
    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = image.astype(float)
    return image / image.max()


def snr(image, estimate, where) -> float:
    truth = image[where]
    return float(10 * np.log10(np.sum((truth - truth.mean()) ** 2) / np.sum((estimate[where] - truth) ** 2)))


def main(argv=None, log=print) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=DEFAULT, help="NAME:KEPT_SHARE, scikit-image data names")
    parser.add_argument("--auto-only", action="store_true", help="skip the (slow) choice on the whole image")
    args = parser.parse_args(argv)
    from lamina.inverse import reconstruct
    from lamina.inverse.baselines import linear_interpolation

    lines = ["| image (kept) | shape | default (window) dB | s | whole-image choice dB | s | Δ dB | linear dB |",
             "|---|---|---|---|---|---|---|---|"]
    for item in args.images:
        name, _, share = item.partition(":")
        image = load(name)
        mask = np.random.default_rng(0).random(image.shape) < float(share or 0.5)
        started = time.perf_counter()
        auto = reconstruct(image[mask], mask)
        auto_s = time.perf_counter() - started
        row = [f"{name} ({float(share or 0.5):.0%})", f"{image.shape[0]}×{image.shape[1]}",
               f"{snr(image, auto.x, ~mask):.2f}", f"{auto_s:.0f}"]
        if args.auto_only:
            row += ["—", "—", "—"]
        else:
            started = time.perf_counter()
            whole = reconstruct(image[mask], mask, select_window=None)
            whole_s = time.perf_counter() - started
            row += [f"{snr(image, whole.x, ~mask):.2f}", f"{whole_s:.0f}",
                    f"{snr(image, auto.x, ~mask) - snr(image, whole.x, ~mask):+.2f}"]
        row.append(f"{snr(image, linear_interpolation(image[mask], mask), ~mask):.2f}")
        lines.append("| " + " | ".join(row) + " |")
        log(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    log("\n" + table)
    return table


if __name__ == "__main__":
    main()
