"""Deterministic synthetic trips shaped like examples/chicago_taxi/data.csv, at any row count.

Same columns, types and missing rates. Places (community area, coordinates, census tract) and
companies are drawn from the sample's own pickups and dropoffs; time, distance, duration and
fare follow simple models of the sample (a Chicago meter: flag fall, per mile, per minute).
Tips follow the sample's pattern, so `big_tipper` (tips > 0.2 * fare) is learnable: cash
trips record no tip, card trips tip about 15-30% of the fare, more at night and on short
trips, by company a little. Seeded numpy: the same (rows, seed) give the same file.

    python bench/synthetic.py --rows 100000 --out /tmp/taxi_100k.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chicago_taxi" / "data.csv"
FIRST_DAY, DAYS = np.datetime64("2013-01-01"), 4 * 365  # the sample's years, 2013-2016
PICKUP = ["pickup_community_area", "pickup_latitude", "pickup_longitude"]
DROPOFF = ["dropoff_community_area", "dropoff_latitude", "dropoff_longitude", "dropoff_census_tract"]


def _draw(rng: np.random.Generator, values: pd.Series, n: int) -> np.ndarray:
    """n draws from a column's empirical distribution (missing values included)."""
    return rng.choice(values.to_numpy(dtype=object), size=n)


def _draw_rows(rng: np.random.Generator, frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """n rows of `frame` drawn with replacement: keeps the columns' joint distribution."""
    return frame.iloc[rng.integers(0, len(frame), size=n)].reset_index(drop=True)


def taxi_rows(n: int, seed: int = 0, sample: Path = SAMPLE) -> pd.DataFrame:
    """n synthetic trips, columns in the sample's order, numbers as the sample writes them."""
    real = pd.read_csv(sample)
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(index=range(n))

    # When: the sample's hour-of-day profile, any day of 2013-2016, on the quarter hour.
    day = rng.integers(0, DAYS, size=n)
    hour = _draw(rng, real["trip_start_hour"], n).astype(int)
    start = (FIRST_DAY + day.astype("timedelta64[D]")).astype("datetime64[s]")
    start = start + (hour * 3600 + rng.integers(0, 4, size=n) * 900).astype("timedelta64[s]")
    when = pd.DatetimeIndex(start)
    out["trip_start_month"], out["trip_start_hour"] = when.month, hour
    out["trip_start_day"] = (when.dayofweek + 1) % 7 + 1  # 1 = Sunday, as in the sample
    out["trip_start_timestamp"] = start.astype(np.int64) + 6 * 3600  # Chicago (CST) to UTC

    # Where: (area, coordinates, tract) tuples as they occur in the sample.
    pickup, dropoff = _draw_rows(rng, real[PICKUP], n), _draw_rows(rng, real[DROPOFF], n)
    for col in PICKUP:
        out[col] = pickup[col]
    for col in DROPOFF:
        out[col] = dropoff[col]
    # The sample has one pickup tract in 15,000 rows; keep a few so the column has a type.
    tract = rng.random(n) < 1e-4
    tract[0] = True
    out["pickup_census_tract"] = np.where(tract, 17031081500, np.nan)

    # How far and how long: a quarter of the trips record no distance, as in the sample.
    miles = np.where(rng.random(n) < 0.27, 0.0, np.round(np.exp(rng.normal(0.47, 1.0, n)), 1))
    minutes = np.maximum(1, np.round(2 + 2.6 * miles * np.exp(rng.normal(0, 0.4, n)) + rng.gamma(2.0, 3.0, n)))
    fare = np.round((3.25 + 2.25 * miles + 0.2 * minutes) * 20) / 20
    fare[rng.random(n) < 0.002] = 0.0
    out["trip_miles"], out["trip_seconds"], out["fare"] = miles, (minutes * 60).astype(int), fare
    out.loc[rng.random(n) < 0.0004, "trip_seconds"] = np.nan

    # Who: card trips are likelier the longer the trip; a third of the rows name no company.
    card = rng.random(n) < np.clip(0.25 + 0.04 * miles, 0, 0.85)
    other = _draw(rng, real.loc[~real["payment_type"].isin(["Cash", "Credit Card"]), "payment_type"], n)
    payment = np.where(card, "Credit Card", np.where(rng.random(n) < 0.02, other, "Cash"))
    out["payment_type"] = payment
    out["company"] = _draw(rng, real["company"], n)

    # Tips: a share of the fare on card trips (cash tips are not recorded).
    companies = real["company"].dropna().unique()
    lean = dict(zip(companies, rng.normal(0, 0.03, len(companies)), strict=True))
    night = np.isin(hour, [22, 23, 0, 1, 2, 3])
    share = (
        0.215
        + 0.05 * night
        - 0.015 * np.log1p(miles)
        + out["company"].map(lean).fillna(0).to_numpy()
        + rng.normal(0, 0.02, n)
    )
    tipped = (payment == "Credit Card") | ((payment == "Unknown") & (rng.random(n) < 0.2))
    out["tips"] = np.where(tipped, np.round(np.clip(share, 0, None) * fare, 2), 0.0)
    return out[list(real.columns)]


def write_csv(n: int, path: str | Path, seed: int = 0) -> Path:
    """n synthetic trips to a CSV like the sample's ('' for missing, integers without '.0')."""
    rows = taxi_rows(n, seed)
    for col in rows.columns:
        if rows[col].dtype == float and col not in ("fare", "tips", "trip_miles") and "itude" not in col:
            rows[col] = rows[col].astype("Int64")
    path = Path(path)
    rows.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    print(write_csv(args.rows, args.out, args.seed))
