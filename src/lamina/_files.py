"""Output files written whole or not at all (report pages, figure PNGs, summaries)."""
from __future__ import annotations

import os
import pathlib
import secrets


def write_atomically(path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to a temporary file beside ``path``, then rename it
    over ``path``: a run killed (or an error, a full disk) during the write leaves the previous file
    whole, never a truncated one, and no temporary file behind when the write fails."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    text = isinstance(data, str)
    try:
        # "x": the umask's permissions, as a plain write; never an existing file
        with open(tmp, "x" if text else "xb", encoding="utf-8" if text else None) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
