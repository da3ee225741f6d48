"""What a step imports: the optional modules the steps decline (components/common `without`)
stay out of a fresh step process, and the libraries that would have loaded them still work.
Each check runs in its own interpreter, as a kfp.local step does (this one has them loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from components.common import without
from tests.conftest import REPO


def in_step_process(code: str) -> tuple[dict, str]:
    """Runs code in a fresh interpreter after `import components.common.io` (a step's first
    import); code prints one JSON line last. Returns it and the process's stderr."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", "import components.common.io\n" + textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_without_declines_only_inside_and_only_what_is_not_loaded(tmp_path, monkeypatch, capsys):
    (tmp_path / "tabml_optional_probe.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with without("tabml_optional_probe", "json", notice="Unable to import"):
        with pytest.raises(ImportError):
            import tabml_optional_probe  # noqa: F401
        assert json.dumps(1) == "1"  # already loaded: left alone
        sys.stderr.write("Unable to import tabml_optional_probe: a library's notice\n")
        sys.stderr.write("anything else\n")
    import tabml_optional_probe

    assert tabml_optional_probe.VALUE == 1
    assert sys.modules["json"] is json
    err = capsys.readouterr().err
    assert "anything else" in err and "a library's notice" not in err
    monkeypatch.delitem(sys.modules, "tabml_optional_probe")


def test_tfdv_steps_load_no_ipython_and_beam_runs_without_it():
    result, err = in_step_process(
        """
        import json, sys
        import apache_beam as beam
        import components.statistics_gen.executor, components.example_validator.executor
        from components.common import without
        from components.common.beam import pipeline
        from tensorflow_data_validation.utils.display_util import get_statistics_html
        from tensorflow_metadata.proto.v0 import statistics_pb2

        after_import = "IPython" in sys.modules
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.datasets.add(name="train", num_examples=3).features.add(name="x")
        html = get_statistics_html(stats)
        with without("IPython"), pipeline() as p:
            _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x + 1)
        after_declined_run = "IPython" in sys.modules
        with pipeline() as p:  # as the steps ran Beam before: its notebook check imports IPython
            _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x + 1)
        print(json.dumps({"after_import": after_import, "after_declined_run": after_declined_run,
                          "after_plain_run": "IPython" in sys.modules, "facets": "facets-overview" in html}))
        """
    )
    assert result == {"after_import": False, "after_declined_run": False, "after_plain_run": True, "facets": True}
    assert "Unable to import IPython" not in err  # TFDV's notice for a missing extra, not for a declined one


def test_evaluator_loads_all_of_tfma_but_no_sklearn_or_redis():
    result, err = in_step_process(
        """
        import json, sys
        import components.evaluator.executor
        import tensorflow_model_analysis as tfma

        declined = [m for m in ("sklearn", "redis") if m in sys.modules]
        import sklearn.metrics  # other steps' own use is untouched

        print(json.dumps({"declined": declined, "tfma": [hasattr(tfma, n) for n in ("run_model_analysis", "view")]}))
        """
    )
    assert result == {"declined": [], "tfma": [True, True]}
    assert "Error importing" not in err  # TFMA's __init__ prints this when an import of its own fails
