"""Drift benchmark (not a test): how components/common/drift.py behaves on same-distribution
and shifted windows, and how long a comparison takes.

    .venv/bin/python bench/drift.py               # all three parts
    .venv/bin/python bench/drift.py --windows 40  # more windows per size

1. Noise: `--windows` same-distribution windows per size, of the example taxi data (9,000
   reference rows, windows drawn from the other rows) and of synthetic data (a normal feature
   and a 5-value categorical one, 20,000 reference rows). Per size: the largest distance of
   each feature, the effective threshold at that size, and the K each would need
   (distance * sqrt(n_eff), n_eff = n * n_ref / (n + n_ref)) against drift.FLOOR_K.
2. Detection: synthetic windows of 1k and 10k rows with the normal feature's mean shifted by
   0.1 to 1 sd, and the categorical's top share moved by 2 to 20 points; the distance, the
   threshold and the smallest shift caught.
3. Time: statistics (TFDV) of 100k rows and drift.compare of them against the reference.
Figures only: nothing here fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow_data_validation as tfdv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from components.common import drift  # noqa: E402
from contracts.config import Monitoring  # noqa: E402

TAXI = REPO / "examples" / "chicago_taxi" / "data.csv"
# Heavy tails (fare, trip_miles), heavy ties (pickup points, community areas, census tracts), text.
TAXI_FEATURES = [
    "fare",
    "trip_miles",
    "trip_seconds",
    "trip_start_hour",
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_community_area",
    "dropoff_census_tract",
    "payment_type",
    "company",
]
SHARES = {"a": 0.4, "b": 0.3, "c": 0.15, "d": 0.1, "e": 0.05}
SIZES = [100, 300, 1000, 3000, 6000]


def stats(frame: pd.DataFrame):
    return tfdv.generate_statistics_from_dataframe(frame.reset_index(drop=True))


def synthetic(rng, n: int, shift: float = 0.0, moved: float = 0.0) -> pd.DataFrame:
    """x ~ N(shift, 1); c with `moved` of the share taken from "a" and given to "e"."""
    shares = dict(SHARES, a=SHARES["a"] - moved, e=SHARES["e"] + moved)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1.0, n), "c": rng.choice(list(shares), p=list(shares.values()), size=n)}
    )


def noise(windows: int, rng) -> None:
    taxi = pd.read_csv(TAXI)[TAXI_FEATURES].sample(frac=1.0, random_state=0)
    # rows None: fresh synthetic windows
    cases = {"taxi": (stats(taxi.iloc[:9000]), taxi.iloc[9000:]), "synthetic": (stats(synthetic(rng, 20_000)), None)}
    loose = Monitoring(min_rows=1)
    print(f"1. same-distribution windows ({windows} per size): largest distance / effective threshold")
    need = {drift.NUMERIC: 0.0, drift.CATEGORICAL: 0.0}
    for name, (reference, rows) in cases.items():
        table = {}
        for n in SIZES + ([10_000] if rows is None else []):
            if rows is not None and n > len(rows):
                continue
            for w in range(windows):
                window = rows.sample(n, random_state=w) if rows is not None else synthetic(rng, n)
                for f in drift.compare(stats(window), reference, loose).features:
                    cell = table.setdefault(f.feature, {}).setdefault(n, [0.0, 0.0, f.kind])
                    cell[0] = max(cell[0], f.distance)
                    cell[1] = drift.noise_floor(f.kind, *f.rows)
                    n_eff = f.rows[0] * f.rows[1] / sum(f.rows)
                    need[f.kind] = max(need[f.kind], f.distance * math.sqrt(n_eff))
        sizes = sorted({n for cells in table.values() for n in cells})
        print(f"  {name:<16}" + "".join(f"{n:>16,}" for n in sizes))
        for feature, cells in table.items():
            print(
                f"  {feature:<16}"
                + "".join(f"{cells[n][0]:>8.4f}/{max(cells[n][1], _configured(cells[n][2])):<7.4f}" for n in sizes)
            )
    for kind, k in need.items():
        print(f"  K needed for zero false alarms, {kind}: {k:.2f} (drift.FLOOR_K: {drift.FLOOR_K[kind]})")


def _configured(kind: str) -> float:
    defaults = Monitoring()
    return defaults.numeric_threshold if kind == drift.NUMERIC else defaults.categorical_threshold


def detection(rng) -> None:
    reference = stats(synthetic(rng, 20_000))
    print("2. detection (synthetic, 20k reference rows, default thresholds): distance / threshold")
    for n in (1_000, 10_000):
        caught = {}
        for what, steps in (("x", (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)), ("c", (0.02, 0.05, 0.08, 0.1, 0.15, 0.2))):
            cells = []
            for step in steps:
                window = synthetic(rng, n, shift=step) if what == "x" else synthetic(rng, n, moved=step)
                f = next(f for f in drift.compare(stats(window), reference, Monitoring()).features if f.feature == what)
                cells.append(
                    f"{step:g}: {f.distance:.4f}/{f.effective_threshold:.4f}{'*' if f.verdict == 'drifted' else ''}"
                )
                if f.verdict == drift.DRIFTED:
                    caught.setdefault(what, step)
            unit = "sd mean shift" if what == "x" else "share moved"
            print(f"  n={n:>6,} {what} ({unit}): " + "  ".join(cells))
        print(
            f"  n={n:>6,} smallest caught: mean shift {caught.get('x', 'none')} sd, "
            f"share moved {caught.get('c', 'none')} (* = drifted)"
        )


def timing(rng) -> None:
    reference = stats(synthetic(rng, 20_000))
    window = synthetic(rng, 100_000, shift=0.5)
    start = time.perf_counter()
    current = stats(window)
    made = time.perf_counter() - start
    start = time.perf_counter()
    report = drift.compare(current, reference, Monitoring())
    compared = time.perf_counter() - start
    print(
        f"3. 100k rows: TFDV statistics {made:.2f} s, drift.compare {compared * 1000:.1f} ms "
        f"(decision {report.decision})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    noise(args.windows, rng)
    detection(rng)
    timing(rng)


if __name__ == "__main__":
    main()
