"""The monitoring contracts: the predictor's request-log lines read as data (a "window"), and the
files a window step writes for the steps after it.

A request window (RequestWindow step) is a Dataset directory holding

    window.csv    one row per predicted instance in [start, end): the model's raw features
                  (typed as its training data), the label where ground truth arrived, and the
                  columns below
    window.json   what was read and kept: rows, labelled rows, rejected requests, rows per
                  model version, the window, the files read, lines skipped by reason
    labelled.csv  the rows whose label arrived, as training data: the config's features and
                  the label under label.name as the labels file gave it, nothing served-side;
                  a retrain appends it to the configured data (the training pipeline's
                  extra_data), header only when no label arrived

and its TFDV statistics, in StatisticsGen's layout (`stats_path(root, WINDOW_SPLIT)`), so the
drift and skew steps read them as they read a training run's statistics.
"""

from __future__ import annotations

from contracts.registry import RegistryVersion, complete_versions, model_base, read_metadata, version_dir

WINDOW_CSV = "window.csv"
WINDOW_SUMMARY = "window.json"
LABELLED_CSV = "labelled.csv"
# window.json's count of labelled.csv's rows.
LABELLED_ROWS = "labelled_rows"
# window.json's count of rejected requests per model version (a canary's error rate).
REJECTED_BY_VERSION = "rejected_by_version"
# The split name of the window's statistics: <statistics>/Split-window/FeatureStats.pb.
WINDOW_SPLIT = "window"

# Columns a window adds beside the features and the label. Not the log's own field names
# ("timestamp", "index"): a dataset may well have features called that.
REQUEST_ID = "request_id"
REQUEST_INDEX = "request_index"  # the instance's position in its request (the log's "index")
REQUEST_TIME = "request_time"  # the log line's timestamp, ISO 8601 UTC
MODEL_VERSION = "model_version"
# The request's server-side latency (the log's "latency_ms"), on each of its rows; the column is
# absent for logs written before the predictor logged it, empty on such rows of a mixed window.
REQUEST_LATENCY_MS = "request_latency_ms"
# binary: the positive-class probability; regression: the value; multiclass: the predicted class,
# with one PROBABILITY_PREFIX + <class> column per class.
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
WINDOW_COLUMNS = (REQUEST_ID, REQUEST_INDEX, REQUEST_TIME, MODEL_VERSION, REQUEST_LATENCY_MS, PREDICTION)

# A ground-truth labels file (CSV or JSON lines) names the request by the log's own fields:
# request_id, and index (the instance's position) for requests of more than one instance.
LABELS_REQUEST_ID = "request_id"
LABELS_INDEX = "index"


def served_versions_in_registry(
    registry: str, model_name: str, versions: list[str]
) -> dict[str, RegistryVersion | None]:
    """Each version a window's requests were served by -> its complete registry version, or None
    where the registry has no such version (a model served from elsewhere, a version deleted
    since, a wrong registry): drift against training data needs the version's own statistics,
    so a caller refuses those with `unknown_versions_message`."""
    known = set(complete_versions(model_base(registry, model_name)))
    found: dict[str, RegistryVersion | None] = {}
    for version in versions:
        if version.isdigit() and int(version) in known:
            path = version_dir(registry, model_name, int(version))
            found[version] = RegistryVersion(int(version), path, read_metadata(path))
        else:
            found[version] = None
    return found


def unknown_versions_message(registry: str, model_name: str, found: dict[str, RegistryVersion | None]) -> str:
    """'' when every served version is in the registry, else what is wrong and what to check."""
    unknown = sorted(v for v, hit in found.items() if hit is None)
    if not unknown:
        return ""
    listed = complete_versions(model_base(registry, model_name))
    shown = ", ".join(repr(v) for v in unknown)
    return (
        f"the requests were served by model version(s) {shown}, which {model_base(registry, model_name)} does not "
        f"hold (its complete versions: {listed or 'none'}); check the registry and model name, or leave those "
        "versions out of the window"
    )
