"""Convert vega_datasets' bundled cars.json (Auto MPG) to cars.csv.gz, reproducibly.

Usage:
    python3 make_csv.py PATH/TO/vega_datasets/_data/cars.json [OUTPUT]

OUTPUT defaults to cars.csv.gz next to this script. Standard library only.

- Column names and row order are kept as in cars.json.
- JSON null becomes an empty cell.
- Numbers are written exactly as they are spelled in the JSON text (no float round trip).
- Year ("1970-01-01" etc., always January 1st) is reduced to the integer year (1970).
- The CSV is UTF-8 with "\\n" line endings, gzip-compressed at level 9 with mtime=0
  and no file name in the gzip header, so the output bytes depend only on the input
  (and on zlib's deflate, which is stable for a given zlib).
"""

import csv
import gzip
import io
import json
import os
import re
import sys

COLUMNS = [
    "Name",
    "Miles_per_Gallon",
    "Cylinders",
    "Displacement",
    "Horsepower",
    "Weight_in_lbs",
    "Acceleration",
    "Year",
    "Origin",
]
_YEAR = re.compile(r"^(\d{4})-01-01$")


def _cell(column, value):
    if value is None:
        return ""
    if column == "Year":
        match = _YEAR.match(value)
        if not match:
            raise ValueError(f"unexpected Year value: {value!r}")
        return match.group(1)
    return value


def convert(json_path, out_path):
    with open(json_path, encoding="utf-8") as f:
        # parse_int/parse_float=str keep each number's spelling from the JSON text.
        rows = json.load(f, parse_int=str, parse_float=str)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i, row in enumerate(rows):
        if list(row) != COLUMNS:
            raise ValueError(f"row {i}: unexpected columns {list(row)}")
        writer.writerow([_cell(c, row[c]) for c in COLUMNS])
    with open(out_path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(buf.getvalue().encode("utf-8"))
    return len(rows)


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    out = argv[2] if len(argv) == 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "cars.csv.gz")
    n = convert(argv[1], out)
    print(f"wrote {n} rows to {out}")


if __name__ == "__main__":
    main(sys.argv)
