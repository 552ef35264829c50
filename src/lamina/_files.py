"""Output files written whole or not at all (report pages, figure PNGs, summaries)."""
from __future__ import annotations

import os
import pathlib
import secrets
import stat


def write_atomically(path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to a temporary file beside ``path``, then rename it
    over ``path``: a run killed (or an error, a full disk) during the write leaves the previous file
    whole, never a truncated one, and no temporary file behind when the write fails.

    As a plain write: a symbolic link keeps pointing to the file, which is the one replaced; an
    existing file keeps its permissions; a name of up to 255 bytes can be written (the temporary
    file holds at most the first 48 characters of it)."""
    path = pathlib.Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name[:48]}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    text = isinstance(data, str)
    try:
        # "x": the umask's permissions, as a plain write of a new file; never an existing file
        with open(tmp, "x" if text else "xb", encoding="utf-8" if text else None) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:   # a new file
            pass
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
