"""What the write pass counts, as values Beam combines (each batch's, merged in any order, give
what one pass over the rows in file order gives), and the duplicate rows from the rows' keys."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from components.example_gen.read import Problem

# A row's place in the input, as one int64: part (data 0, extra data 1), file, row.
_FILE_SHIFT, _PART_SHIFT = 40, 62


def positions(part: int, file: int, first_row: int, n: int) -> np.ndarray:
    return (np.int64(part) << _PART_SHIFT) + (np.int64(file) << _FILE_SHIFT) + first_row + np.arange(n, dtype=np.int64)


@dataclass
class FirstSeen:
    """Values with their counts and the place of their first row: most_common() breaks ties
    by that place, as a Counter filled in file order would."""

    found: dict[str, list[int]] = field(default_factory=dict)  # value -> [count, first position]

    def add(self, values: list[str], counts: np.ndarray, first: np.ndarray) -> None:
        for v, n, f in zip(values, counts.tolist(), first.tolist(), strict=True):
            seen = self.found.get(v)
            if seen is None:
                self.found[v] = [n, f]
            else:
                seen[0] += n
                seen[1] = min(seen[1], f)

    def merge(self, other: FirstSeen) -> None:
        for v, (n, f) in other.found.items():
            self.add([v], np.array([n]), np.array([f]))

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        ranked = sorted(self.found.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        return [(v, c) for v, (c, _) in ranked[:n]]

    def total(self) -> int:
        return sum(c for c, _ in self.found.values())


COUNTS = ("rows_read", "extra_rows_read", "rows_without_label", "undefined_ratio_rows", "duplicates_dropped")


@dataclass
class Stats:
    rows_read: int = 0
    extra_rows_read: int = 0
    rows_without_label: int = 0
    undefined_ratio_rows: int = 0
    duplicates_dropped: int = 0
    split_counts: Counter = field(default_factory=Counter)
    extra_split_counts: Counter = field(default_factory=Counter)
    class_counts: dict[str, Counter] = field(default_factory=dict)  # split -> class id -> rows
    values: dict[str, list] = field(default_factory=dict)  # split -> [count, [partial sums], min, max]
    seen: FirstSeen = field(default_factory=FirstSeen)  # the label's values (not a derived label's)
    unseen: FirstSeen = field(default_factory=FirstSeen)  # multiclass: classes the train split lacks
    problem: Problem | None = None

    def add_problems(self, problems: list[Problem]) -> None:
        for p in problems:
            if self.problem is None or p < self.problem:
                self.problem = p

    def add_values(self, split: str, values: np.ndarray) -> None:
        if not len(values):
            return
        count, sums, low, high = self.values.setdefault(split, [0, [], math.inf, -math.inf])
        sums.append(math.fsum(values.tolist()))
        self.values[split] = [count + len(values), sums, min(low, float(values.min())), max(high, float(values.max()))]

    def merge(self, other: Stats) -> Stats:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.split_counts.update(other.split_counts)
        self.extra_split_counts.update(other.extra_split_counts)
        for split, counts in other.class_counts.items():
            self.class_counts.setdefault(split, Counter()).update(counts)
        for split, (count, sums, low, high) in other.values.items():
            mine = self.values.setdefault(split, [0, [], math.inf, -math.inf])
            self.values[split] = [mine[0] + count, mine[1] + sums, min(mine[2], low), max(mine[3], high)]
        self.seen.merge(other.seen)
        self.unseen.merge(other.unseen)
        self.add_problems([other.problem] if other.problem else [])
        return self

    def value_summary(self, splits: list[str]) -> dict:
        out = {}
        for split in splits:
            count, sums, low, high = self.values.get(split, [0, [], 0.0, 0.0])
            mean = math.fsum(sums) / count if count else 0.0
            out[split] = {"count": count, "mean": mean, "min": low, "max": high} if count else {"count": 0}
        return out


# ------------------------------------------------------------------------------------ JSON


def stats_to_json(stats: Stats) -> dict:
    return {
        **{name: getattr(stats, name) for name in COUNTS},
        "split_counts": dict(stats.split_counts),
        "extra_split_counts": dict(stats.extra_split_counts),
        "class_counts": {s: {str(k): v for k, v in c.items()} for s, c in stats.class_counts.items()},
        "values": stats.values,
        "seen": stats.seen.found,
        "unseen": stats.unseen.found,
        "problem": [list(stats.problem.key), stats.problem.message] if stats.problem else None,
    }


def stats_from_json(data: dict) -> Stats:
    stats = Stats(**{name: data[name] for name in COUNTS})
    stats.split_counts = Counter(data["split_counts"])
    stats.extra_split_counts = Counter(data["extra_split_counts"])
    stats.class_counts = {s: Counter({int(k): v for k, v in c.items()}) for s, c in data["class_counts"].items()}
    stats.values = data["values"]
    stats.seen, stats.unseen = FirstSeen(data["seen"]), FirstSeen(data["unseen"])
    stats.problem = Problem(tuple(data["problem"][0]), data["problem"][1]) if data["problem"] else None
    return stats


# ------------------------------------------------------------------------------------ duplicates

DUPLICATE_BUCKETS = 16  # rows are grouped by their key's first byte: each group is checked alone


def keyed_rows(digests: np.ndarray, pos: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(bucket, rows) for a batch: each row's 16-byte key as two uint64 and its position."""
    rows = np.empty(len(pos), dtype=[("hi", "<u8"), ("lo", "<u8"), ("pos", "<i8")])
    words = digests.view("<u8").reshape(-1, 2) if len(pos) else np.zeros((0, 2), "<u8")
    rows["hi"], rows["lo"], rows["pos"] = words[:, 0], words[:, 1], pos
    bucket = digests[:, 0] % DUPLICATE_BUCKETS if len(pos) else np.zeros(0, np.uint8)
    return [(int(b), rows[bucket == b]) for b in np.unique(bucket)]


def later_copies(rows: np.ndarray) -> np.ndarray:
    """Positions of the rows whose key an earlier row has (sorted): the duplicates."""
    order = np.lexsort((rows["pos"], rows["lo"], rows["hi"]))
    rows = rows[order]
    repeat = (rows["hi"][1:] == rows["hi"][:-1]) & (rows["lo"][1:] == rows["lo"][:-1])
    return np.sort(rows["pos"][1:][repeat])
