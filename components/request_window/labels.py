"""Ground truth that arrives after the predictions: a labels file joined to the window by request.

The file is CSV or JSON lines (local or gs://, a file or a glob) with the log's own names:
`request_id`, `index` (the instance's position in its request; may be left out when every
request has one instance) and the label column under the config's label.name, as the label is
known in the world (the class name, the number, 0/1).
"""

from __future__ import annotations

import io

import pandas as pd
import tensorflow as tf

from components.request_window.logs import RequestLogError
from contracts.monitoring import LABELS_INDEX, LABELS_REQUEST_ID, REQUEST_ID, REQUEST_INDEX

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def _files(location: str) -> list[str]:
    gfile = tf.io.gfile
    files = sorted(f for f in gfile.glob(location) if not gfile.isdir(f)) if any(c in location for c in "*?[") else []
    if not files and gfile.exists(location) and not gfile.isdir(location):
        files = [location]
    if not files:
        raise RequestLogError(f"labels file {location} matched no files (give a CSV or JSON-lines file, or a glob)")
    return files


def _read(path: str) -> pd.DataFrame:
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    name = path[:-3] if path.endswith(".gz") else path
    compression = "gzip" if path.endswith(".gz") else None
    try:
        if name.endswith(_JSON_SUFFIXES):
            return pd.read_json(io.BytesIO(data), lines=True, dtype=False, compression=compression)
        return pd.read_csv(
            io.BytesIO(data), dtype=object, keep_default_na=False, na_values=[""], compression=compression
        )
    except ValueError as err:
        kind = "JSON lines" if name.endswith(_JSON_SUFFIXES) else "CSV"
        raise RequestLogError(f"labels file {path}: not readable as {kind}: {err}") from None


def read_labels(location: str, label: str) -> tuple[pd.DataFrame, dict]:
    """(request_id, [request_index,] label) rows, the last one kept for a repeated key, and
    what was read."""
    frames = []
    for path in _files(location):
        frame = _read(path)
        missing = [c for c in (LABELS_REQUEST_ID, label) if c not in frame.columns]
        if missing:
            raise RequestLogError(
                f"labels file {path} has no column(s) {missing} (its columns: {list(frame.columns)}); it needs "
                f"'{LABELS_REQUEST_ID}', the label under label.name '{label}', and '{LABELS_INDEX}' for "
                "requests of more than one instance"
            )
        frames.append(frame)
    has_index = all(LABELS_INDEX in f.columns for f in frames)
    columns = [LABELS_REQUEST_ID, label] + ([LABELS_INDEX] if has_index else [])
    labels = pd.concat([f[columns] for f in frames], ignore_index=True)
    labels = labels.rename(columns={LABELS_REQUEST_ID: REQUEST_ID, LABELS_INDEX: REQUEST_INDEX})
    labels = labels[labels[REQUEST_ID].notna()]
    labels[REQUEST_ID] = labels[REQUEST_ID].astype(str)
    if has_index:
        index = pd.to_numeric(labels[REQUEST_INDEX], errors="coerce")
        bad = labels[index.isna() | (index % 1 != 0)]
        if not bad.empty:
            raise RequestLogError(
                f"labels file {location}: '{LABELS_INDEX}' {bad[REQUEST_INDEX].iloc[0]!r} of request "
                f"{bad[REQUEST_ID].iloc[0]!r} is not an instance position (0, 1, ...)"
            )
        labels[REQUEST_INDEX] = index.astype("int64")
    keys = [REQUEST_ID] + ([REQUEST_INDEX] if has_index else [])
    repeated = int(labels.duplicated(keys, keep="last").sum())
    labels = labels.drop_duplicates(keys, keep="last").reset_index(drop=True)
    return labels, {
        "source": location,
        "read": len(labels) + repeated,
        "repeated_keys": repeated,
        "by_index": has_index,
    }


def join_labels(window: pd.DataFrame, labels: pd.DataFrame, label: str, location: str) -> tuple[pd.DataFrame, int]:
    """The window with the label column (missing where no label arrived), and how many labels
    matched no row of the window (labels of requests before or after it are normal)."""
    if REQUEST_INDEX in labels.columns:
        keys = [REQUEST_ID, REQUEST_INDEX]
    else:
        keys = [REQUEST_ID]
        labelled = window[window[REQUEST_ID].isin(labels[REQUEST_ID])]
        batched = labelled.loc[labelled[REQUEST_INDEX] > 0, REQUEST_ID].unique()
        if len(batched):
            raise RequestLogError(
                f"labels file {location} has no '{LABELS_INDEX}' column, but request {batched[0]!r} (and "
                f"{len(batched) - 1} more) has more than one instance: add '{LABELS_INDEX}', the instance's "
                "position in its request (the log's 'index')"
            )
    # Many to one: a client may reuse a request id; its rows then share the label.
    joined = window.merge(labels, on=keys, how="left", validate="many_to_one")
    unmatched = len(labels) - int(labels.set_index(keys).index.isin(window.set_index(keys).index).sum())
    return joined, unmatched
