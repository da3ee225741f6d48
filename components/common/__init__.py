"""Shared by the executors. Every step imports this package first, so this is where a step
declines an import it never needs: Beam imports google-cloud-bigquery, whose progress bars
import tqdm.notebook, which loads IPython and ipywidgets (~1.3 CPU-s in each step that imports
Beam). bigquery treats a missing tqdm.notebook as "no notebook bars". In a notebook (IPython
already loaded) nothing changes."""

import sys

if "IPython" not in sys.modules:
    sys.modules.setdefault("tqdm.notebook", None)
