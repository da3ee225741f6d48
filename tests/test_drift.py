"""Drift between TFDV statistics (components/common/drift.py) and drift at training time
(ExampleValidator against the champion's training statistics): no false alarms on
same-distribution windows, a 0.5-sd shift and a categorical change caught, small windows
said to be small."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common import drift
from components.example_validator import executor as validator
from contracts.config import Monitoring
from contracts.registry import TRAINING_STATS
from tests.conftest import TAXI_CSV, read_taxi, taxi_config
from tests.test_data_validation import statistics_of, validate

TAXI_FEATURES = ["fare", "trip_miles", "trip_seconds", "trip_start_hour", "payment_type", "company"]
HEAVY_TAILED = ["fare", "trip_miles", "trip_seconds"]


def stats(frame: pd.DataFrame):
    return tfdv.generate_statistics_from_dataframe(frame.reset_index(drop=True))


@pytest.fixture(scope="module")
def taxi():
    """9,000 reference rows of the example data and the other ~6,000 to draw windows from."""
    rows = pd.read_csv(TAXI_CSV)[TAXI_FEATURES].sample(frac=1.0, random_state=0)
    return stats(rows.iloc[:9000]), rows.iloc[9000:]


@pytest.fixture(scope="module")
def normal():
    rng = np.random.default_rng(7)
    return rng, stats(pd.DataFrame({"x": rng.normal(0, 1, 20_000)}))


@pytest.mark.parametrize("n", [100, 1000])
def test_no_false_alarm_over_20_same_distribution_taxi_windows(taxi, n):
    reference, rest = taxi
    for window in range(20):
        report = drift.compare(stats(rest.sample(n, random_state=window)), reference, Monitoring())
        assert report.decision == drift.OK, [f.describe() for f in report.with_verdict(drift.DRIFTED)]
        assert {f.feature for f in report.features} == set(TAXI_FEATURES)
        # A feature with fewer than min_rows values (missing in some rows) is not judged, and says so.
        judged = [f for f in report.features if f.verdict == drift.OK]
        assert all(f.verdict == drift.TOO_SMALL for f in report.features if f not in judged)
        assert {"fare", "trip_start_hour", "payment_type"} <= {f.feature for f in judged}


@pytest.mark.parametrize("n", [100, 1000])
def test_no_false_alarm_over_20_same_distribution_normal_windows(normal, n):
    rng, reference = normal
    for _ in range(20):
        report = drift.compare(stats(pd.DataFrame({"x": rng.normal(0, 1, n)})), reference, Monitoring())
        assert report.decision == drift.OK, report.features


# Few distinct values, heavy ties: 236 pickup points, 69 community areas, 11-digit census tracts.
TIED = ["pickup_latitude", "pickup_longitude", "dropoff_community_area", "dropoff_census_tract"]


@pytest.fixture(scope="module")
def tied_halves():
    """The example's rows in two random halves (the file is ordered by time), typed as ExampleGen
    types them (floats at float32): statistics of one, the other to draw windows from."""
    rows = read_taxi()[TIED].sample(frac=1.0, random_state=3)
    numbers = rows.apply(lambda c: pd.to_numeric(c.replace("", None)).astype("float32").astype("float64"))
    half = len(numbers) // 2
    return stats(numbers.iloc[:half]), numbers.iloc[half:]


@pytest.mark.parametrize("n", [1000, 5000])
def test_no_false_alarm_on_tied_numeric_features_of_the_example(tied_halves, n):
    """A quantile bucket ending at a repeated value holds that value's whole mass at its end;
    interpolating across it put up to a bucket's mass (10%) in the wrong bin, a distance that
    does not shrink with the sample (dropoff_community_area: 3x its floor at 1,000 rows)."""
    reference, rest = tied_halves
    for window in range(20):
        report = drift.compare(stats(rest.sample(n, random_state=window)), reference, Monitoring())
        assert report.decision == drift.OK, [f.describe() for f in report.with_verdict(drift.DRIFTED)]
        judged = [f for f in report.features if f.distance is not None]
        assert {f.feature for f in judged} == set(TIED)
        worst = max(judged, key=lambda f: f.distance / drift.noise_floor(f.kind, *f.rows))
        assert worst.distance < 0.7 * drift.noise_floor(worst.kind, *worst.rows), worst.describe()


def test_a_moved_share_of_a_tied_feature_is_still_caught(tied_halves):
    """30% of the window's rows moved from their community area to the most common one (JSD
    0.043 vs a floor of 0.028): caught. Dropping the edges next to ties costs sensitivity here:
    15% moved gives 0.016, under the floor (the old interpolation said 0.044, an artefact as
    large as its false alarms)."""
    reference, rest = tied_halves
    window = rest.sample(5000, random_state=0).reset_index(drop=True)
    area = window["dropoff_community_area"]
    top = area.mode()[0]
    moved = area.index[area.notna() & (area != top)][:1500]
    window.loc[moved, "dropoff_community_area"] = top
    report = drift.compare(stats(window), reference, Monitoring())
    assert [f.feature for f in report.with_verdict(drift.DRIFTED)] == ["dropoff_community_area"]


def test_heavy_tailed_distance_shrinks_with_the_sample_where_tfdvs_does_not(taxi):
    """TFDV's numeric JSD (standard histogram) stays ~0.3 between same-distribution samples of
    1,000 rows; the reference-quantile JSD is two orders of magnitude smaller."""
    reference, rest = taxi
    current = stats(rest.sample(1000, random_state=0))
    schema = schema_pb2.Schema()
    for name in HEAVY_TAILED:
        feature = schema.feature.add(name=name, type=schema_pb2.FLOAT)
        feature.drift_comparator.jensen_shannon_divergence.threshold = 1.0
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=reference)
    theirs = {i.path.step[0]: i.drift_measurements[0].value for i in anomalies.drift_skew_info}
    ours = {f.feature: f.distance for f in drift.compare(current, reference, Monitoring(), HEAVY_TAILED).features}
    for name in HEAVY_TAILED:
        assert theirs[name] > 0.2 and ours[name] < 0.01, (name, theirs[name], ours[name])


def test_half_sd_mean_shift_is_caught_at_10k_rows(normal):
    rng, reference = normal
    shifted = drift.compare(stats(pd.DataFrame({"x": rng.normal(0.5, 1, 10_000)})), reference, Monitoring())
    [x] = shifted.features
    assert shifted.decision == drift.DRIFTED and x.verdict == drift.DRIFTED
    assert x.kind == drift.NUMERIC and x.measure == drift.JSD and x.rows == (10_000, 20_000)
    assert x.distance > 0.03 and x.effective_threshold == pytest.approx(0.02)
    same = drift.compare(stats(pd.DataFrame({"x": rng.normal(0, 1, 10_000)})), reference, Monitoring())
    assert same.decision == drift.OK and same.features[0].distance < 0.005


def test_categorical_mix_change_of_15_points_is_caught_at_1k_rows(taxi):
    reference, rest = taxi
    window = rest.sample(1000, random_state=1).reset_index(drop=True)
    card = window.index[window.payment_type == "Credit Card"][:150]
    window.loc[card, "payment_type"] = "Cash"
    report = drift.compare(stats(window), reference, Monitoring())
    assert [f.feature for f in report.with_verdict(drift.DRIFTED)] == ["payment_type"]
    payment = report.with_verdict(drift.DRIFTED)[0]
    assert payment.kind == drift.CATEGORICAL and payment.measure == drift.LINF
    assert 0.1 < payment.distance < 0.2 and payment.effective_threshold == pytest.approx(0.1)


def test_per_feature_threshold_and_the_noise_floor(taxi):
    reference, rest = taxi
    window = stats(rest.sample(1000, random_state=2))
    config = Monitoring(numeric_threshold=0.001, thresholds={"fare": 0.5})
    by_name = {f.feature: f for f in drift.compare(window, reference, config).features}
    assert by_name["fare"].threshold == 0.5 and by_name["fare"].effective_threshold == 0.5
    # A configured threshold under the noise at 1,000 rows is raised to the floor, not obeyed.
    miles = by_name["trip_miles"]
    assert miles.threshold == 0.001 and miles.effective_threshold == pytest.approx(
        drift.noise_floor(drift.NUMERIC, *miles.rows)
    )
    assert miles.verdict == drift.OK


def test_too_small_windows_are_reported_as_such(taxi):
    reference, rest = taxi
    report = drift.compare(stats(rest.sample(60, random_state=0)), reference, Monitoring())
    assert report.decision == drift.TOO_SMALL and report.rows == (60, 9000)
    assert all(f.verdict == drift.TOO_SMALL and f.distance is None for f in report.features)
    fare = next(f for f in report.features if f.feature == "fare")
    assert fare.describe() == "fare: too small to judge (60 vs 9,000 rows)"
    # A column absent from the window is said to be missing, not passed.
    missing = drift.compare(stats(rest.sample(500, random_state=0).drop(columns="company")), reference, Monitoring())
    assert [f.verdict for f in missing.features if f.feature == "company"] == [drift.MISSING]
    assert json.dumps(missing.to_dict())  # the report is plain JSON


def test_monitoring_config_checks_feature_names(tmp_path):
    config = taxi_config(tmp_path, monitoring={"thresholds": {"fare": 0.05}, "training_drift": "block"})
    assert config.monitoring.thresholds == {"fare": 0.05} and config.monitoring.min_rows == 100
    with pytest.raises(Exception, match=r"monitoring.thresholds: \['no_such'\] are not in features"):
        taxi_config(tmp_path, monitoring={"thresholds": {"no_such": 0.05}})
    with pytest.raises(Exception, match="training_drift"):
        taxi_config(tmp_path, monitoring={"training_drift": "sometimes"})


# ExampleValidator: the new data's train split against the champion's training statistics.


def _champion(tmp_path, rows) -> str:
    """A registry whose latest version was trained on `rows` (its train split's statistics)."""
    (tmp_path / "before").mkdir()
    config = taxi_config(tmp_path / "before")
    statistics = statistics_of(config, (tmp_path / "before"), rows)
    version = tmp_path / "registry" / config.model_name / "1700000000"
    (version / "training_stats").mkdir(parents=True)
    (version / TRAINING_STATS).write_bytes((statistics / "Split-train" / "FeatureStats.pb").read_bytes())
    (version / "model_metadata.json").write_text("{}")
    return str(tmp_path / "registry")


def _times_ten(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    for column in ("fare", "trip_miles"):
        value = pd.to_numeric(rows[column].replace("", None)) * 10
        rows[column] = value.map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return rows


def _validate(tmp_path, name, rows, registry, **monitoring):
    (tmp_path / name).mkdir()
    config = taxi_config(tmp_path / name, monitoring=monitoring) if monitoring else taxi_config(tmp_path / name)
    statistics = statistics_of(config, tmp_path / name, rows)
    return validate(config, statistics, tmp_path / name / "schema", tmp_path / name, registry)


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("drift")
    # Shuffled: the file's first rows and the next ones differ (pickup places: KS p ~1e-27),
    # which the comparison rightly reports as drift.
    rows = read_taxi(6000).sample(frac=1.0, random_state=0)
    return tmp_path, _champion(tmp_path, rows.iloc[:3000]), rows.iloc[3000:]


def test_an_unshifted_new_sample_passes(champion):
    tmp_path, registry, new = champion
    result = _validate(tmp_path, "same", new, registry)
    assert result.anomalies == [] and result.baseline_version == 1700000000
    assert result.drift.decision == drift.OK
    written = json.loads((tmp_path / "same" / "anomalies" / validator.DRIFT_JSON).read_text())
    assert written["baseline_version"] == 1700000000 and written["decision"] == "ok"
    assert {f["feature"] for f in written["features"]} >= {"fare", "trip_miles", "payment_type"}


def test_fare_and_miles_times_ten_warn_by_default(champion):
    tmp_path, registry, new = champion
    result = _validate(tmp_path, "warn", _times_ten(new), registry)
    drifted = [a for a in result.anomalies if a.types == [validator.TRAINING_DRIFT]]
    assert {a.feature for a in drifted} == {"fare", "trip_miles"} and not any(a.blocking for a in drifted)
    assert result.blocking == []
    fare = next(f for f in result.drift.features if f.feature == "fare")
    assert fare.distance > 0.3 and fare.verdict == drift.DRIFTED
    report = (tmp_path / "warn" / "report.md").read_text()
    assert "Decision: drifted" in report and "| `fare` | jensen_shannon_divergence |" in report


def test_fare_and_miles_times_ten_block_in_block_mode(champion):
    tmp_path, registry, new = champion
    with pytest.raises(validator.DataValidationError) as err:
        _validate(tmp_path, "block", _times_ten(new), registry, training_drift="block")
    message = str(err.value)
    assert {a.feature for a in err.value.anomalies} == {"fare", "trip_miles"}
    assert "feature 'fare': TRAINING_DRIFT: fare: jensen_shannon_divergence 0." in message
    # The effective threshold at ~2,400 rows is the noise floor, above the configured 0.02.
    assert re.search(r"vs threshold 0\.04\d+ \(configured 0\.02; 2,\d+ vs 2,\d+ rows\)", message)
    assert "monitoring.training_drift is block" in message and "monitoring.thresholds.fare" in message
    # The distances are written before the run fails.
    assert (tmp_path / "block" / "anomalies" / validator.DRIFT_JSON).exists()


def test_training_drift_off_compares_nothing(champion):
    tmp_path, registry, new = champion
    result = _validate(tmp_path, "off", _times_ten(new), registry, training_drift="off")
    assert result.drift is None and not [a for a in result.anomalies if a.types == [validator.TRAINING_DRIFT]]
