"""Codecs: the cost our codec layer adds over calling each library directly.

For every codec, an encode followed by a decode of the same value, timed two ways in one run:
  ours  what ``Cachette.put``/``fetch`` call: ``raw_encode``/``raw_decode`` of the codec
        object (``cachette.codecs.load_codec(name)``); the facade turns their exceptions
        into CodecError in a try block that costs nothing when nothing is raised
  lib   the library called directly, as a user would write it without cachette
Payloads: a small dict (JSON-like codecs, vanilla and pickle) and a 10,000-row DataFrame with
a str index and int, float (with NaN), str and bool columns (DataFrame codecs and pickle).
Each repeat times ours and lib back to back; the ratio reported is the median over repeats
of ours / lib, which cancels most of the drift of a shared machine.

Run: .venv/bin/python bench/bench_codecs.py [--repeats 15] [--dry-run]
(writes the "Codecs" section of docs/benchmarks.md unless --dry-run)
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _report import machine, median, write_section
from cachette.codecs import load_codec

SMALL = {
    "id": 12345,
    "name": "alice",
    "email": "alice@example.org",
    "tags": ["admin", "beta"],
    "score": 98.5,
    "active": True,
    "parent": None,
}


def dataframe(rows: int = 10_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.random(rows)
    x[::17] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "x": x,
            "y": rng.normal(size=rows),
            "name": [f"name-{i}" for i in range(rows)],
            "flag": rng.random(rows) > 0.5,
        },
        index=pd.Index([f"row-{i}" for i in range(rows)], name="key"),
    )


def _feather_bytes(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    feather.write_feather(frame, sink)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


Pair = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]

# codec -> the library called directly: (encode, decode)
LIBRARY: dict[str, Pair] = {
    "vanilla": (lambda v: str(v).encode(), lambda b: b.decode()),
    "json": (lambda v: json.dumps(v).encode(), json.loads),
    "orjson": (orjson.dumps, orjson.loads),
    "msgpack": (msgpack.packb, msgpack.unpackb),
    "pickle": (pickle.dumps, pickle.loads),
    "csv": (lambda f: f.to_csv().encode(), lambda b: pd.read_csv(io.BytesIO(b), index_col=0)),
    "feather": (_feather_bytes, lambda b: feather.read_feather(pa.BufferReader(b))),
    "parquet": (lambda f: f.to_parquet(), lambda b: pd.read_parquet(io.BytesIO(b))),
}

CASES: list[tuple[str, str]] = [
    ("vanilla", "dict"),
    ("json", "dict"),
    ("orjson", "dict"),
    ("msgpack", "dict"),
    ("pickle", "dict"),
    ("pickle", "dataframe"),
    ("csv", "dataframe"),
    ("feather", "dataframe"),
    ("parquet", "dataframe"),
]


def round_trip_seconds(
    encode: Callable[[Any], bytes], decode: Callable[[bytes], Any], value: Any, number: int
) -> float:
    start = time.perf_counter()
    for _ in range(number):
        decode(encode(value))
    return (time.perf_counter() - start) / number


def run(repeats: int, only: list[str] | None = None) -> list[dict[str, Any]]:
    payloads = {"dict": SMALL, "dataframe": dataframe()}
    rows = []
    for codec_name, payload_name in CASES:
        if only and codec_name not in only:
            continue
        value = payloads[payload_name]
        codec = load_codec(codec_name)
        lib_enc, lib_dec = LIBRARY[codec_name]
        number = 20_000 if payload_name == "dict" else 10
        # warm up both, and calibrate nothing else: the numbers are fixed per payload
        enc, dec = codec.raw_encode, codec.raw_decode
        round_trip_seconds(enc, dec, value, max(1, number // 10))
        round_trip_seconds(lib_enc, lib_dec, value, max(1, number // 10))
        ours_t, lib_t, ratios = [], [], []
        for r in range(repeats):
            # alternate the order so that neither side always runs first
            if r % 2:
                lib = round_trip_seconds(lib_enc, lib_dec, value, number)
                ours = round_trip_seconds(enc, dec, value, number)
            else:
                ours = round_trip_seconds(enc, dec, value, number)
                lib = round_trip_seconds(lib_enc, lib_dec, value, number)
            ours_t.append(ours)
            lib_t.append(lib)
            ratios.append(ours / lib)
        rows.append(
            {
                "codec": codec_name,
                "payload": payload_name,
                "bytes": len(codec.encode(value)),
                "ours_us": median(ours_t) * 1e6,
                "lib_us": median(lib_t) * 1e6,
                "ratio": median(ratios),
            }
        )
        print(
            f"{codec_name:8s} {payload_name:9s} ours {rows[-1]['ours_us']:10.1f} us  "
            f"lib {rows[-1]['lib_us']:10.1f} us  ratio {rows[-1]['ratio']:.3f}",
            flush=True,
        )
    return rows


def report(rows: list[dict[str, Any]], repeats: int) -> str:
    lines = [
        "## Codecs",
        "",
        f"`bench/bench_codecs.py --repeats {repeats}` on {machine()}.",
        "",
        "One encode plus one decode, through our codec layer as `Cachette.put`/`fetch` call it "
        "(`ours`: the codec's `raw_encode`/`raw_decode`) and through the library called "
        "directly (`lib`). The small dict has 7 fields; the DataFrame has 10,000 rows, a "
        "str index and int, float (with NaN), str and bool columns. Times are medians; the "
        "ratio is the median over repeats of ours ÷ lib measured back to back. Target: ≤ 1.10.",
        "",
        "| codec | payload | stored bytes | ours (µs) | lib (µs) | ours ÷ lib |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['codec']} | {row['payload']} | {row['bytes']:,} | {row['ours_us']:,.1f} "
            f"| {row['lib_us']:,.1f} | {row['ratio']:.2f} |"
        )
    lines += [
        "",
        "What `lib` is: vanilla `str(v).encode()` / `bytes.decode()`; json "
        "`json.dumps(v).encode()` / `json.loads`; orjson `orjson.dumps` / `orjson.loads`; "
        "msgpack `msgpack.packb` / "
        "`msgpack.unpackb`; pickle `pickle.dumps` / `pickle.loads`; csv "
        "`df.to_csv().encode()` / `pd.read_csv(BytesIO(b), index_col=0)`; feather "
        "`pyarrow.feather.write_feather` / `read_feather` (pandas' `to_feather` refuses a "
        "non-default index); parquet `df.to_parquet()` / `pd.read_parquet(BytesIO(b))`.",
        "Our csv codec gives back the exact dtypes and index (plain `read_csv` infers them), "
        "which costs a JSON header line and, for columns inference gets wrong, a conversion.",
        "The orjson and pickle fast paths *are* `orjson.dumps`/`orjson.loads` and "
        "`pickle.dumps`/`pickle.loads`, so their rows show this run's noise floor.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", help="comma-separated codec names to run")
    parser.add_argument("--dry-run", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    rows = run(args.repeats, args.only.split(",") if args.only else None)
    body = report(rows, args.repeats)
    print()
    print(body)
    if not args.dry_run:
        write_section("codecs", body)


if __name__ == "__main__":
    main()
