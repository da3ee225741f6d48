"""tf.Examples for a whole batch at once, and their TFRecord framing.

tfx_bsl's RecordBatchToExamplesEncoder writes a missing value as a feature with no value;
ExampleGen leaves the feature out. So the protobuf wire format is assembled here with Arrow
kernels: per column, each row's map entry {key, Feature{Int64List|FloatList|BytesList{value}}}
(null where missing), then each row's entries joined, in column order. A parsed example equals
the tf.train.Example built value by value (values.to_example).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.example_gen.values import BYTES, FLOAT, INT

_LIST_TAG = {BYTES: b"\x0a", FLOAT: b"\x12", INT: b"\x1a"}  # Feature's oneof field numbers 1, 2, 3


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _varints(values: np.ndarray) -> pa.Array:
    """Each int64 as a protobuf varint (a negative one in ten bytes, as int64 fields are)."""
    v = values.astype(np.int64).view(np.uint64)
    size = np.ones(len(v), np.int64)
    for k in range(1, 10):
        size += v >= np.uint64(1 << (7 * k))
    width = int(size.max()) if len(v) else 1
    table = np.empty((len(v), width), np.uint8)
    for k in range(width):
        more = np.where(size > k + 1, 0x80, 0).astype(np.uint8)
        table[:, k] = ((v >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8) | more
    data = table[np.arange(width) < size[:, None]]
    offsets = np.zeros(len(v) + 1, np.int32)
    np.cumsum(size, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(v), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _prefixed(prefix_of, payload: pa.Array) -> pa.Array:
    """prefix_of(len(payload)) + payload per row (null stays null): the prefixes, which depend
    only on the length, are made once per distinct length."""
    lengths = pc.fill_null(pc.binary_length(payload), 0).to_numpy(zero_copy_only=False)
    if not len(lengths):
        return payload
    if lengths.max() < 1 << 16:
        distinct, index = np.arange(lengths.max() + 1), lengths
    else:
        distinct, index = np.unique(lengths, return_inverse=True)
    prefixes = pa.array([prefix_of(int(n)) for n in distinct], pa.binary()).take(pa.array(index))
    return pc.binary_join_element_wise(prefixes, payload, b"")


def _entry_prefix(key: bytes, tag: bytes):
    """The map entry {1: key, 2: Feature{tag: List{1: value}}} up to the value's bytes."""

    def prefix(n: int) -> bytes:
        value_list = b"\x0a" + _varint(n)
        feature = tag + _varint(len(value_list) + n) + value_list
        body = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(feature) + n) + feature
        return b"\x0a" + _varint(len(body) + n) + body

    return prefix


def _payload(kind: str, values: pa.Array) -> pa.Array:
    """A value's bytes inside its list: a varint, a little-endian float32, or the bytes."""
    if kind == INT:
        payload = _varints(pc.fill_null(values, 0).to_numpy(zero_copy_only=False))
    elif kind == FLOAT:
        floats = np.ascontiguousarray(pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False), dtype="<f4")
        offsets = np.arange(len(floats) + 1, dtype=np.int32) * 4
        payload = pa.Array.from_buffers(
            pa.binary(), len(floats), [None, pa.py_buffer(offsets), pa.py_buffer(floats.view(np.uint8))]
        )
    else:
        return values.cast(pa.binary())
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.binary()), payload)


def encode_examples(columns: list[tuple[str, str, pa.Array]]) -> pa.Array:
    """Serialized tf.Examples, one per row, from (name, kind, values) columns (null: absent)."""
    entries = [_prefixed(_entry_prefix(name.encode(), _LIST_TAG[kind]), _payload(kind, v)) for name, kind, v in columns]
    # "replace", not "skip": pyarrow 10's "skip" loses rows whose every entry is null.
    features = pc.binary_join_element_wise(*entries, b"", null_handling="replace", null_replacement=b"")
    return _prefixed(lambda n: b"\x0a" + _varint(n), features)


# ------------------------------------------------------------------------------------ writing

try:  # google-crc32c (with Beam's GCP extras) uses the CPU's crc32c instruction: 6x crcmod's speed
    from google_crc32c import value as _crc32c
except ImportError:  # pragma: no cover
    import crcmod.predefined

    _crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def _mask(crc: np.ndarray) -> np.ndarray:
    """TFRecord's masked crc32c: rotated right by 15 bits, plus a constant."""
    crc = crc.astype(np.uint32)
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)).astype("<u4")


def _fixed(rows: np.ndarray) -> pa.Array:
    """A binary array from an (n, width) uint8 matrix."""
    n, width = rows.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    data = pa.py_buffer(np.ascontiguousarray(rows))
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), data])


def tfrecords(records: pa.Array) -> pa.Buffer:
    """TFRecord framing of a binary array: each record's length, its masked crc32c, the data,
    its masked crc32c, one after the other."""
    lengths = pc.binary_length(records).to_numpy(zero_copy_only=False).astype("<u8")
    header = np.empty((len(records), 12), np.uint8)
    header[:, :8] = lengths.view(np.uint8).reshape(-1, 8)
    distinct, index = np.unique(lengths, return_inverse=True)
    length_crcs = np.array([_crc32c(n.tobytes()) for n in distinct], np.uint64)[index]
    header[:, 8:] = _mask(length_crcs).view(np.uint8).reshape(-1, 4)
    records = records.cast(pa.binary())
    offsets = np.frombuffer(records.buffers()[1], np.int32)[records.offset : records.offset + len(records) + 1]
    data = records.buffers()[2].to_pybytes() if len(records) else b""
    bounds = offsets.tolist()
    data_crcs = np.fromiter(
        (_crc32c(data[s:e]) for s, e in zip(bounds, bounds[1:], strict=False)), np.uint64, len(records)
    )
    footer = _mask(data_crcs).view(np.uint8).reshape(-1, 4)
    framed = pc.binary_join_element_wise(_fixed(header), records, _fixed(footer), b"")
    offsets = framed.buffers()[1]
    start, end = np.frombuffer(offsets, np.int32)[[framed.offset, framed.offset + len(framed)]]
    return framed.buffers()[2][int(start) : int(end)]
