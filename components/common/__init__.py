"""Shared by the executors. Every step imports this package first, so this is where a step
declines an import it never needs: Beam imports google-cloud-bigquery, whose progress bars
import tqdm.notebook, which loads IPython and ipywidgets (~1.3 CPU-s in each step that imports
Beam). bigquery treats a missing tqdm.notebook as "no notebook bars". In a notebook (IPython
already loaded) nothing changes.

`without` does the same for one import or one Beam run: a library that treats a module as
optional runs as if it were not installed, and afterwards the module imports as usual."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr

if "IPython" not in sys.modules:
    sys.modules.setdefault("tqdm.notebook", None)


class _Dropping:
    """sys.stderr less the writes that start with `notice`."""

    def __init__(self, stream, notice: str):
        self.stream, self.notice = stream, notice

    def write(self, text: str) -> int:
        return len(text) if text.startswith(self.notice) else self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@contextmanager
def without(*names: str, notice: str = "") -> Iterator[None]:
    """Inside, importing any of `names` not loaded yet raises ImportError (one already loaded,
    e.g. IPython in a notebook, is left alone). `notice`: the start of the message a library
    writes to stderr on finding one missing, dropped (the module is declined, not missing)."""
    declined = [name for name in names if name not in sys.modules]
    for name in declined:
        sys.modules[name] = None
    try:
        if notice:
            with redirect_stderr(_Dropping(sys.stderr, notice)):
                yield
        else:
            yield
    finally:
        for name in declined:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
