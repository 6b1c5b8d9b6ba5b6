"""Per-column Parquet choices: a codec only where it shrinks the column, its level honoured."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from checkpointing import CheckpointManager
from checkpointing.store._parquet import SMALL, write_parquet
from tests.checkpointing._frames import assert_exact

ROWS = 50_000


def mixed_table(rows: int = ROWS) -> pa.Table:
    rng = np.random.default_rng(11)
    return pa.table(
        {
            "noise": rng.integers(0, 2**63, rows),  # random bits: no codec shrinks them
            "clock": np.cumsum(rng.integers(0, 100, rows)),  # sorted, small steps: compresses
            "label": pa.array(rng.choice(["a", "b", "c"], rows)),  # repeats: a dictionary
            "price": np.round(100 + rng.integers(0, 50, rows) * 0.25, 2),  # few distinct values
        }
    )


def written(table: pa.Table, codec: str, level: int | None = None) -> pq.FileMetaData:
    sink = pa.BufferOutputStream()
    write_parquet(table, sink, compression=codec, level=level)
    return pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata


def codecs(metadata: pq.FileMetaData, columns: int = 4) -> dict[str, str]:
    group = metadata.row_group(0)
    return {group.column(i).path_in_schema: group.column(i).compression for i in range(columns)}


def chunk_size(metadata: pq.FileMetaData, name: str) -> int:
    group = metadata.row_group(0)
    sizes = {
        group.column(i).path_in_schema: group.column(i).total_compressed_size for i in range(4)
    }
    return sizes[name]


def test_random_values_are_stored_plain_and_the_rest_compressed():
    assert codecs(written(mixed_table(), "snappy")) == {
        "noise": "UNCOMPRESSED",
        "clock": "SNAPPY",
        "label": "SNAPPY",
        "price": "SNAPPY",
    }


def test_the_file_is_no_bigger_than_with_the_codec_on_every_column():
    table = mixed_table()
    ours = written(table, "snappy")
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    everywhere = pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata
    assert chunk_size(ours, "noise") <= chunk_size(everywhere, "noise")
    assert ours.serialized_size <= everywhere.serialized_size + 64


def test_a_level_applies_to_the_compressed_columns_beside_plain_ones():
    table = mixed_table()
    fast, strong = written(table, "gzip", 1), written(table, "gzip", 9)
    assert codecs(fast) == codecs(strong)
    assert codecs(strong)["noise"] == "UNCOMPRESSED" and codecs(strong)["clock"] == "GZIP"
    assert chunk_size(strong, "clock") < chunk_size(fast, "clock")


def test_random_floats_keep_a_codec_that_shrinks_their_exponents():
    floats = pa.table({"f": np.random.default_rng(3).standard_normal(ROWS)})
    assert codecs(written(floats, "snappy"), 1) == {"f": "UNCOMPRESSED"}
    assert codecs(written(floats, "zstd", 9), 1) == {"f": "ZSTD"}


def test_every_column_keeps_the_codec_in_small_tables_and_without_a_codec():
    small = mixed_table(SMALL)
    assert set(codecs(written(small, "snappy")).values()) == {"SNAPPY"}
    assert set(codecs(written(mixed_table(), "none")).values()) == {"UNCOMPRESSED"}


@pytest.mark.parametrize(
    "table",
    [
        pa.table({"a.b": np.random.default_rng(1).standard_normal(ROWS), "c": np.arange(ROWS)}),
        pa.table(
            {
                "s": pa.array([{"x": float(i)} for i in range(ROWS)]),
                "f": np.random.default_rng(2).standard_normal(ROWS),
            }
        ),
    ],
    ids=["a dotted column name", "a nested column"],
)
def test_dotted_names_and_nested_columns_keep_the_codec_everywhere(table):
    metadata = written(table, "snappy")
    group = metadata.row_group(0)
    assert {group.column(i).compression for i in range(group.num_columns)} == {"SNAPPY"}


def test_frames_with_plain_and_compressed_columns_round_trip(tmp_path):
    frame = mixed_table().to_pandas()
    manager = CheckpointManager(tmp_path, compression="zstd")
    assert_exact(manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"], frame)
