"""fit's progress display: a tqdm bar per epoch on a terminal (or in a notebook), else one line per
epoch, so logs and pipes do not get each epoch two or three times."""

from __future__ import annotations

import sys


class _PlainBar:
    """One line per epoch, printed when it ends: without tqdm, or where output is not a terminal."""

    def __init__(self, epoch, epochs, total):
        self.prefix = f"epoch {epoch + 1}/{epochs}"
        self.postfix = {}

    def update(self, n):
        pass

    def set_postfix(self, values=None, refresh=True, **kwargs):
        self.postfix = dict(values or {}, **kwargs)

    def close(self):
        print(self.prefix + "  " + "  ".join(f"{k}={v}" for k, v in self.postfix.items()), flush=True)


def progress_bar(epoch, epochs, total):
    """A tqdm bar for the epoch where one can redraw in place (a terminal, a notebook); elsewhere
    (a log file, a pipe, CI) tqdm would write each redraw as a line of its own, so one line per
    epoch is printed instead."""
    try:
        from tqdm.auto import tqdm
        from tqdm.autonotebook import tqdm as notebook_or_std_tqdm
        from tqdm.std import tqdm as std_tqdm
    except ImportError:
        return _PlainBar(epoch, epochs, total)
    in_notebook = notebook_or_std_tqdm is not std_tqdm
    stream = sys.stderr
    if not in_notebook and not (hasattr(stream, "isatty") and stream.isatty()):
        return _PlainBar(epoch, epochs, total)
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True)
