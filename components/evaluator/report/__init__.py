"""The evaluation report stakeholders read: one self-contained HTML file (inline CSS, inline
SVG charts, a few lines of inline JS; nothing fetched from the network) and a Markdown summary
(the KFP Markdown artifact), for every task: binary, multiclass and regression.

Everything comes from blessing.json (decision, checks, candidate and baseline metrics, slices,
intervals, fairness gate, confusion matrix, what the run read) plus a data summary from the
TFDV statistics and the ExampleValidator's anomalies. Metric names and titles come from
contracts/metrics.py; nothing here knows a dataset.

One number format everywhere (`fmt`): counts with thousands separators (2,986), rates and
unitless metrics with four decimals (0.0150), values in the label's units (regression errors,
mean label) with four significant digits (2.393, 23.71, 12,345), changes signed (+0.0012).
Rates are drawn on one 0-1 axis; regression errors on an axis from 0 labelled with the label's
units.

The modules, from the bottom up: components/common's formatting (numbers, escaping, table
cells) and bar_chart (SVG), shared with the monitoring report; label and metric_names (what
blessing.json's task, label and metric keys are called), decision (the checks in words, the
headline), slices, group_charts (per-group charts with the gate), frame (checks and overall
tables), binary / multiclass / regression (each task's section and Markdown table), data
(provenance, statistics, anomalies), then markdown and page, which put them together. This
package re-exports what the rest of the project uses.
"""

from components.common.bar_chart import bar_chart, nice_max, nice_step
from components.common.formatting import DASH, fmt
from components.evaluator.report.data import DATA_CHECKS, data_summary
from components.evaluator.report.decision import (
    applied_checks,
    check_status,
    gate_detail,
    gate_rule,
    gate_summary,
    headline,
    headline_metrics,
)
from components.evaluator.report.group_charts import CHART_RATES, MAX_CHART_GROUPS
from components.evaluator.report.label import TASK_TITLES, label_unit, task_of
from components.evaluator.report.markdown import render_markdown
from components.evaluator.report.metric_names import (
    UNIT_METRICS,
    fairness_thresholds,
    metric_kind,
    metric_title,
    parse_rate,
    rate_title,
)
from components.evaluator.report.multiclass import confusion_matrix_html
from components.evaluator.report.page import render_html
from components.evaluator.report.slices import slice_columns, slice_feature

__all__ = [
    "CHART_RATES",
    "DASH",
    "DATA_CHECKS",
    "MAX_CHART_GROUPS",
    "TASK_TITLES",
    "UNIT_METRICS",
    "applied_checks",
    "bar_chart",
    "check_status",
    "confusion_matrix_html",
    "data_summary",
    "fairness_thresholds",
    "fmt",
    "gate_detail",
    "gate_rule",
    "gate_summary",
    "headline",
    "headline_metrics",
    "label_unit",
    "metric_kind",
    "metric_title",
    "nice_max",
    "nice_step",
    "parse_rate",
    "rate_title",
    "render_html",
    "render_markdown",
    "slice_columns",
    "slice_feature",
    "task_of",
]
