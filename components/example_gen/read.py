"""The input files as Arrow RecordBatches, local or gs://.

CSV (plain or gzip, told apart by content) is read with pyarrow as text, as
pandas.read_csv(dtype=str, keep_default_na=False, na_values=data.missing_values) reads it: every
cell a string, '' for a missing one (an empty cell or one of data.missing_values), pandas' names
for unnamed and repeated header columns. Parquet is read typed. A file that cannot be read is
not an exception here but a Problem that names it: a Beam step hands it on, and the run raises
the first one (in file and row order) as an InputDataError once the pipeline is done.
"""

from __future__ import annotations

import codecs
import gzip
import os
import shutil
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import tensorflow as tf

from components.example_gen.values import arrow_kind, text_kinds

CHUNK_ROWS = 50_000  # rows checked together: a problem's place in file order (see Problem)
CSV_BLOCK_BYTES = 4 << 20  # about 40,000 rows of a typical table per batch
_HEAD_BYTES = 1 << 16
_GZIP_MAGIC, _PARQUET_MAGIC = b"\x1f\x8b", b"PAR1"
_NOT_CSV = "not a CSV file (binary content?): it is neither UTF-8 text nor gzip-compressed CSV"


@dataclass(frozen=True, order=True)
class Problem:
    """Input that cannot become examples. Ordered as the rows are read: part (data, then extra
    data), file, chunk of CHUNK_ROWS rows, the check (rank), row; the first one is raised."""

    key: tuple[int, int, int, int, int]
    message: str

    @staticmethod
    def at(part: int, file: int, row: int, rank: int, message: str) -> Problem:
        return Problem((part, file, row // CHUNK_ROWS if row >= 0 else -1, rank, row), message)


@dataclass(frozen=True)
class Source:
    """One input file: part 0 is the data, part 1 the extra data; index in the part's sorted files."""

    part: int
    index: int
    path: str
    fmt: str


@dataclass
class Observed:
    """What the files of one part hold: the first file's header and each column's kinds of value,
    or the first problem."""

    header: list[str] | None = None
    kinds: dict[str, set[str]] = field(default_factory=dict)
    problem: Problem | None = None
    rows: dict[int, int] = field(default_factory=dict)  # Parquet: file index -> rows (its metadata)


def na_texts(missing_values: list[str]) -> list[str]:
    """The cells pandas reads as missing for na_values (with dtype=str): each value and, for a
    number, its other spellings ('-999' also means '-999.0')."""
    found: set = set()
    for x in missing_values:
        found |= {str(x), x}
        try:
            v = float(x)
            if v == int(v):
                v = int(v)
                found |= {f"{v}.0", str(v)}
            found.add(v)
        except (TypeError, ValueError, OverflowError):
            pass
        try:
            found.add(int(x))
        except (TypeError, ValueError, OverflowError):
            pass
    return sorted({str(v) for v in found})


def pandas_names(names: list[str]) -> list[str]:
    """Header names as pandas makes them: 'Unnamed: i' for an empty one, 'a.1' for a second 'a'."""
    names = [n or f"Unnamed: {i}" for i, n in enumerate(names)]
    counts: dict[str, int] = defaultdict(int)
    out = []
    for name in names:
        count = counts[name]
        while count > 0:
            counts[name] = count + 1
            name = f"{name}.{count}"
            count = counts[name]
        out.append(name)
        counts[name] = count + 1
    return out


def read_batches(source: Source, missing_values: list[str]) -> Iterator[tuple[int, pa.RecordBatch] | Problem]:
    """(first row's index in the file, batch) over a file, the first batch possibly empty (a
    header only); a Problem ends it."""
    with arrow_files(source.path) as open_file:
        if source.fmt == "parquet":
            yield from _parquet(source, open_file)
        else:
            yield from _csv(source, open_file, na_texts(missing_values))


def _problem(source: Source, message: str, row: int = -1) -> Problem:
    return Problem.at(source.part, source.index, row, -1, f"{source.path}: {message}")


def _parquet(source: Source, open_file: Callable[[], pa.NativeFile]):
    with open_file() as f:
        if f.read(4) != _PARQUET_MAGIC:
            yield _problem(source, "not a Parquet file (data.format is parquet)")
            return
        f.seek(0)
        try:
            table = pq.ParquetFile(f)
        except Exception as err:  # pyarrow raises several types for a bad file
            yield _problem(source, f"not a readable Parquet file: {err}")
            return
        yield 0, _empty(table)  # the header, even without rows
        row = 0
        try:
            for batch in table.iter_batches(batch_size=CHUNK_ROWS):
                yield row, batch
                row += batch.num_rows
        except Exception as err:
            yield _problem(source, f"not a readable Parquet file: {err}", row)


def _empty(table: pq.ParquetFile) -> pa.RecordBatch:
    schema = table.schema_arrow
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def parquet_observed(part: int, files: list[str]) -> Observed:
    """A Parquet part's column types (and row counts) come from the files' metadata: no data is read."""
    seen = Observed()
    for index, path in enumerate(files):
        source = Source(part, index, path, "parquet")
        with arrow_files(path) as open_file, open_file() as f:
            if f.read(4) != _PARQUET_MAGIC:
                return Observed(problem=_problem(source, "not a Parquet file (data.format is parquet)"))
            f.seek(0)
            try:
                table = pq.ParquetFile(f)
                schema = table.schema.to_arrow_schema()
            except Exception as err:
                return Observed(problem=_problem(source, f"not a readable Parquet file: {err}"))
            seen.rows[index] = table.metadata.num_rows
        columns = list(schema.names)
        if seen.header is not None and columns != seen.header:
            return Observed(problem=_problem(source, f"columns {columns} differ from the first file's {seen.header}"))
        seen.header = columns
        for fld in schema:
            seen.kinds.setdefault(fld.name, set()).add(arrow_kind(fld.type))
    return seen


@contextmanager
def arrow_files(path: str) -> Iterator[Callable[[], pa.NativeFile]]:
    """Opens the file as pyarrow reads it natively: local, or a filesystem pyarrow knows (gs://);
    a copy on local disk for any other (as tf.io.gfile reads it). Never a Python file object:
    pyarrow reads ahead on its own threads, and a reader dropped while one of them waits for
    the GIL (after a parse error, or once the header is read) hangs the worker."""
    if "://" not in path:
        yield lambda: pa.OSFile(path)
        return
    try:
        fs, inner = pafs.FileSystem.from_uri(path)
        fs.get_file_info(inner)
    except (pa.ArrowException, OSError, ValueError):
        fs = None
    if fs is not None:
        yield lambda: fs.open_input_file(inner)
        return
    with tempfile.NamedTemporaryFile(suffix=os.path.basename(path)) as copy:
        with tf.io.gfile.GFile(path, "rb") as remote:
            shutil.copyfileobj(remote, copy, 16 << 20)
        copy.flush()
        yield lambda: pa.OSFile(copy.name)


def _text_stream(open_file: Callable[[], pa.NativeFile], gzipped: bool) -> pa.NativeFile:
    raw = open_file()
    return pa.CompressedInputStream(raw, "gzip") if gzipped else raw


def _csv(source: Source, open_file: Callable[[], pa.NativeFile], na: list[str]):
    with open_file() as raw:
        magic = raw.read(4)
    if magic == _PARQUET_MAGIC:
        yield _problem(source, "a Parquet file, read as CSV; set data.format: parquet (or name it .parquet)")
        return
    gzipped = magic[:2] == _GZIP_MAGIC
    try:
        with _text_stream(open_file, gzipped) as stream:
            head = stream.read(_HEAD_BYTES)
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _HEAD_BYTES)
    except (UnicodeDecodeError, OSError):
        yield _problem(source, _NOT_CSV)
        return
    if not head.strip(b"\r\n"):
        yield _problem(source, "empty file (no header, no rows)")
        return
    row = 0
    try:
        parse = pcsv.ParseOptions(newlines_in_values=True)
        sniff = pcsv.ReadOptions(use_threads=False, block_size=_HEAD_BYTES)
        with _text_stream(open_file, gzipped) as stream:
            names = pcsv.open_csv(stream, read_options=sniff, parse_options=parse).schema.names
        with _text_stream(open_file, gzipped) as stream:
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
                parse_options=parse,
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=False
                ),
            )
            columns = pandas_names(names)
            yielded = False
            for batch in reader:
                yield row, _as_read(batch, columns, na)
                row += batch.num_rows
                yielded = True
        if not yielded:
            yield 0, pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in columns], names=columns)
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err):
            yield _problem(source, _NOT_CSV, row)
        else:  # a row of another length: pandas pads a short one, and names a long one's line
            yield from _pandas_rest(source, open_file, na, row)
    except OSError:  # a broken gzip stream
        yield _problem(source, _NOT_CSV, row)


def _pandas_rest(source: Source, open_file: Callable[[], pa.NativeFile], na: list[str], start: int):
    """The rows from `start` on as pandas reads them (dtype=str): what pyarrow will not parse."""
    import pandas as pd

    row = 0
    with open_file() as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        try:
            chunks = pd.read_csv(
                gzip.GzipFile(fileobj=raw) if gzipped else raw,
                dtype=str,
                keep_default_na=False,
                na_values=na or None,
                chunksize=CHUNK_ROWS,
                encoding="utf-8",
            )
            for chunk in chunks:
                if row + len(chunk) > start:
                    part = chunk.iloc[max(start - row, 0) :].fillna("")
                    yield max(start, row), pa.RecordBatch.from_pandas(part, preserve_index=False)
                row += len(chunk)
        except (UnicodeDecodeError, OSError, EOFError, zlib.error):
            yield _problem(source, _NOT_CSV, row)
        except pd.errors.ParserError as err:
            yield _problem(source, f"not a readable CSV file: {err}", row)


def _as_read(batch: pa.RecordBatch, columns: list[str], na: list[str]) -> pa.RecordBatch:
    arrays = batch.columns
    if na:
        missing = pa.array(na, pa.string())
        arrays = [pc.if_else(pc.is_in(a, value_set=missing), "", a) for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def csv_kinds(batch: pa.RecordBatch) -> dict[str, set[str]]:
    return {name: text_kinds(col) for name, col in zip(batch.schema.names, batch.columns, strict=True)}
