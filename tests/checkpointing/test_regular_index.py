"""A fixed-step index is generated on load from its first value, and is the very index saved."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import pytz

from checkpointing import CheckpointDecodeError, CheckpointManager
from checkpointing.store._codec import from_table, to_table
from checkpointing.store._parquet import read_parquet, write_parquet
from tests.checkpointing._frames import assert_exact


def encoded(frame: pd.DataFrame) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    write_parquet(to_table(frame)[0], sink, compression="snappy")
    return sink.getvalue()


def stamps(freq: Any, tz: Any = None, unit: Any = "us", n: int = 50) -> pd.DatetimeIndex:
    return pd.date_range("2024-03-09 22:00", periods=n, freq=freq, tz=tz, unit=unit, name="t")


def frame_on(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "v": np.arange(len(index), dtype="float64"),
            "s": [f"x{i % 3}" for i in range(len(index))],
        },
        index=index,
    ).astype({"s": object})


GENERATED: dict[str, pd.Index] = {
    **{f"seconds in [{unit}]": stamps("s", unit=unit) for unit in ("s", "ms", "us", "ns")},
    "15 minutes across a DST change, America/New_York": stamps(
        "15min", tz=zoneinfo.ZoneInfo("America/New_York")
    ),
    "hours in UTC (datetime.timezone)": stamps("h", tz=dt.UTC),
    "hours at a fixed offset": stamps("h", tz=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    "hours in a pytz zone": stamps("h", tz=pytz.timezone("Europe/Paris")),
    "250 ms in [ms]": stamps("250ms", unit="ms"),
    "descending seconds": stamps("-1s"),
    "one row": stamps("min", n=1),
    "an unnamed index": stamps("s").rename(None),
    "a timedelta index": pd.timedelta_range(0, periods=40, freq="90s", name="elapsed"),
    "the 5,000-row OHLCV clock": pd.date_range(
        "2020-01-01", periods=5_000, freq="s", tz="UTC", name="timestamp"
    ),
}


@pytest.mark.parametrize("index", GENERATED.values(), ids=GENERATED.keys())
def test_a_fixed_step_index_is_generated_and_equals_the_decoded_one(index):
    frame = frame_on(index)
    buffer = encoded(frame)
    table, generated = read_parquet(buffer, generate_index=True)
    assert generated is not None, "the index was decoded, not generated"
    assert index.name not in table.column_names and "__index_level_0__" not in table.column_names
    from_generated, _ = from_table(table, index=generated)
    from_decoded, _ = from_table(read_parquet(buffer)[0])
    assert_exact(from_generated, frame)
    assert_exact(from_decoded, frame)
    assert from_generated.index.freq == index.freq  # type: ignore[attr-defined]


@pytest.mark.parametrize("index", GENERATED.values(), ids=GENERATED.keys())
def test_loads_of_fixed_step_indexes_come_back_exactly(tmp_path, index):
    manager = CheckpointManager(tmp_path)
    frame = frame_on(index)
    checkpoint_id = manager.save_checkpoint("p", "s", frame)
    assert_exact(manager.load_checkpoint(checkpoint_id)["data"], frame)
    manager.verify_checkpoint(checkpoint_id)


DECODED: dict[str, pd.Index] = {
    "no freq": pd.DatetimeIndex(stamps("h").to_numpy(), name="t"),
    "days (the local calendar)": stamps("D", tz="America/New_York"),
    "business days": stamps("B"),
    "a step finer than the unit (250 ms in [s])": pd.DatetimeIndex(
        ["2024-01-01 00:00:00", "2024-01-01 00:00:01"], dtype="datetime64[s]"
    ),
    "a RangeIndex": pd.RangeIndex(5),
    "a MultiIndex": pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(stamps("h", n=3).to_numpy()), [1, 2, 3]]
    ),
}


@pytest.mark.parametrize("index", DECODED.values(), ids=DECODED.keys())
def test_other_indexes_are_decoded(index):
    frame = frame_on(index)
    table, generated = read_parquet(encoded(frame), generate_index=True)
    assert generated is None
    assert_exact(from_table(table)[0], frame)


def test_a_frame_holding_only_its_index_is_decoded():
    frame = pd.DataFrame(index=stamps("s", n=4))
    table, generated = read_parquet(encoded(frame), generate_index=True)
    assert generated is None
    assert_exact(from_table(table)[0], frame)


def test_an_index_beyond_nanoseconds_is_decoded_and_still_exact(tmp_path):
    index = pd.date_range("2500-01-01", periods=3, freq="h", unit="s", name="far")
    frame = frame_on(index)
    manager = CheckpointManager(tmp_path)
    assert_exact(manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"], frame)


def test_verify_decodes_the_index_and_compares_it_with_its_freq(tmp_path):
    """A load generates a fixed-step index, as the save checked it; verify_checkpoint still
    decodes the stored values: a file whose values do not follow its freq (written by
    anything but the save, its checksums set to match) is caught there."""
    manager = CheckpointManager(tmp_path)
    frame = frame_on(stamps("s", n=6))
    checkpoint_id = manager.save_checkpoint("p", "s", frame)
    path = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    table = pq.read_table(path)
    values = table.column("t").to_numpy().copy()
    values[3] += np.timedelta64(500, "ms")
    position = table.column_names.index("t")
    table = table.set_column(position, "t", pa.array(values, type=table.schema.field("t").type))
    pq.write_table(table, path)
    rewrite_checksums(manager, checkpoint_id, path)
    assert manager.load_checkpoint(checkpoint_id)["data"].index.equals(frame.index)
    with pytest.raises(CheckpointDecodeError, match="freq"):
        manager.verify_checkpoint(checkpoint_id)


def rewrite_checksums(manager: CheckpointManager, checkpoint_id: str, path: Any) -> None:
    import hashlib

    import xxhash

    data = path.read_bytes()
    manifest_path = manager.checkpoint_dir / f"{checkpoint_id}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["data_size"] = len(data)
    manifest["data_hash"] = hashlib.sha256(data).hexdigest()
    manifest["data_xxh3"] = xxhash.xxh3_64_hexdigest(data)
    manifest_path.write_text(json.dumps(manifest))
