"""Reading the predictor's request log for a time window, local or gs:// (tf.io.gfile).

Two layouts of the same lines (serving/predictor/request_log.py writes them):
  - the predictor's own JSON lines: a file, a glob, or a directory of requests-*.jsonl;
  - Cloud Logging's export to Cloud Storage (the log sink in terraform/modules/storage), as
    documented at https://cloud.google.com/logging/docs/export/storage: hourly files
    `<bucket>/<log_id>/YYYY/MM/DD/HH:00:00_HH:59:59_S<n>.json` (shards named S<n> or A<n>), each
    holding the entries of that hour in UTC, one LogEntry per line whose `jsonPayload` is the
    predictor's line. Day directories more than a day from the window are not read (the margin
    covers entries filed late). GKE's logging agent may move a `timestamp` field of the line
    into the LogEntry's own `timestamp`, so the entry's is used when the payload has none. The
    export does not promise to deduplicate, so exact repeats (same request, instance, time and
    version) are dropped.

A line is a prediction (features + prediction) or a rejected request ("error"); anything else
(KServe's own log lines in the same stream, lines that are not JSON) is counted and skipped.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import tensorflow as tf

LOG_SUFFIXES = (".jsonl", ".json", ".log", ".ndjson")
_DAY_DIR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/?$")
_EXAMPLES_KEPT = 5  # file:line of the first few bad lines, for the message


class RequestLogError(ValueError):
    """A request log that cannot be read as a window; says where and what to do."""


def parse_time(value) -> dt.datetime | None:
    """An ISO 8601 text (naive = UTC, 'Z' and nanoseconds allowed) or a protobuf Timestamp
    object {seconds, nanos} -> an aware UTC datetime; None when it is neither."""
    try:
        if isinstance(value, dict):
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_bounds(
    start: str, end: str, hours: float, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end): end defaults to now, start to `hours` before end."""
    stop = _bound(end, "end") if end else (now or dt.datetime.now(dt.UTC))
    begin = _bound(start, "start") if start else stop - dt.timedelta(hours=hours)
    if begin >= stop:
        raise RequestLogError(f"the window's start {iso(begin)} is not before its end {iso(stop)}")
    return begin, stop


def _bound(text: str, what: str) -> dt.datetime:
    when = parse_time(text)
    if when is None:
        raise RequestLogError(f"window {what} {text!r} is not an ISO 8601 time (e.g. 2026-11-22T09:00:00Z)")
    return when


def log_files(location: str, start: dt.datetime, end: dt.datetime) -> tuple[list[str], int]:
    """The files to read, and how many were left out because their day directory
    (YYYY/MM/DD, Cloud Logging's export) is more than a day away from the window."""
    gfile = tf.io.gfile
    skipped = 0
    if any(ch in location for ch in "*?["):
        files = [f for f in gfile.glob(location) if not gfile.isdir(f)]
    elif gfile.isdir(location):
        files = []
        first, last = start.date() - dt.timedelta(days=1), end.date() + dt.timedelta(days=1)
        for folder, subdirs, names in gfile.walk(location):
            day = _DAY_DIR.search(folder.rstrip("/"))
            if day and not first <= dt.date(*map(int, day.groups())) <= last:
                skipped += len(names)
                subdirs[:] = []
                continue
            subdirs[:] = [d for d in subdirs if not d.startswith((".", "_"))]
            files += [
                os.path.join(folder, n) for n in names if n.endswith(LOG_SUFFIXES) and not n.startswith((".", "_"))
            ]
    elif gfile.exists(location):
        files = [location]
    else:
        files = []
    if not files and not skipped:
        raise RequestLogError(
            f"request log {location} matched no files: give a request-log file, a glob, or a directory of "
            f"{'/'.join('*' + s for s in LOG_SUFFIXES)} files (the predictor's --request_log directory, or "
            "Cloud Logging's export <bucket>/<log_id>/)"
        )
    return sorted(files), skipped


@dataclass
class Scan:
    """What a pass over the log found: the window's prediction lines, and counts of the rest."""

    files: list[str] = field(default_factory=list)
    files_skipped_by_date: int = 0
    lines: int = 0
    parsed: int = 0  # lines that are JSON
    predictions: list[dict] = field(default_factory=list)  # the window's, as logged (payloads)
    times: list[dt.datetime] = field(default_factory=list)  # each prediction's time
    rejected: Counter = field(default_factory=Counter)  # error -> requests, in the window
    rejected_by_version: Counter = field(default_factory=Counter)  # model version -> rejected requests
    skipped: Counter = field(default_factory=Counter)  # reason -> lines
    not_json_at: list[str] = field(default_factory=list)
    newest_outside: dt.datetime | None = None
    model_names: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)  # predictor | cloud_logging -> lines used


def scan(location: str, start: dt.datetime, end: dt.datetime, model_name: str = "") -> Scan:
    found = Scan()
    found.files, found.files_skipped_by_date = log_files(location, start, end)
    seen: set[tuple] = set()
    for path in found.files:
        for number, line in enumerate(_lines(path), 1):
            if line.strip():
                _take(found, seen, line, f"{path}:{number}", start, end, model_name)
    if found.lines and not found.parsed:
        raise RequestLogError(
            f"none of the {found.lines:,} lines in {location} is JSON (first at {found.not_json_at[0]}): "
            "a request log has one JSON object per line (the predictor's --request_log, or Cloud Logging's "
            "export of it)"
        )
    return found


def _lines(path: str, block: int = 16 << 20):
    """The file's lines, read in blocks: GFile's own line iteration costs ~15 us a line."""
    rest = ""
    with tf.io.gfile.GFile(path) as f:
        while text := f.read(block):
            lines = (rest + text).split("\n")
            rest = lines.pop()
            yield from lines
    if rest:
        yield rest


@functools.lru_cache(maxsize=4096)
def _time(value: str) -> dt.datetime | None:
    """parse_time of a text: the lines of one request share their timestamp."""
    return parse_time(value)


def _take(found: Scan, seen: set, line: str, where: str, start, end, model_name: str) -> None:
    found.lines += 1
    try:
        record = json.loads(line)
    except ValueError:
        found.skipped["not_json"] += 1
        if len(found.not_json_at) < _EXAMPLES_KEPT:
            found.not_json_at.append(f"{where}: {line.strip()[:60]!r}")
        return
    found.parsed += 1
    if not isinstance(record, dict):
        found.skipped["not_a_request_line"] += 1
        return
    payload, fmt = record, "predictor"
    if isinstance(record.get("jsonPayload"), dict):  # a Cloud Logging LogEntry
        payload, fmt = record["jsonPayload"], "cloud_logging"
    is_prediction = "features" in payload and "prediction" in payload
    if "request_id" not in payload or not (is_prediction or "error" in payload):
        found.skipped["not_a_request_line"] += 1
        return
    if model_name and payload.get("model_name") != model_name:
        found.skipped["other_model"] += 1
        return
    stamp = payload.get("timestamp") or record.get("timestamp")
    when = _time(stamp) if isinstance(stamp, str) else parse_time(stamp)
    if when is None:
        found.skipped["bad_timestamp"] += 1
        return
    if not start <= when < end:
        found.skipped["outside_window"] += 1
        if found.newest_outside is None or when > found.newest_outside:
            found.newest_outside = when
        return
    if not is_prediction:
        found.rejected[str(payload["error"])] += 1
        # Per version too: a canary's error rate is compared with the stable's (canary analysis).
        found.rejected_by_version[str(payload.get("model_version") or "")] += 1
        return
    key = (payload["request_id"], payload.get("index"), when, payload.get("model_version"))
    if key in seen:
        found.skipped["duplicate"] += 1
        return
    seen.add(key)
    found.predictions.append(payload)
    found.times.append(when)
    found.model_names[str(payload.get("model_name", ""))] += 1
    found.formats[fmt] += 1
