"""DataFrames in and out: pandas, polars and pyarrow, with pandas and polars
imported only when a caller uses them (they are optional extras)."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

Frame = Any  # pandas.DataFrame | polars.DataFrame | pyarrow.Table | pyarrow.RecordBatch


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def to_arrow(frame: Frame | str | os.PathLike) -> pa.Table:
    """An Arrow table of a pandas or polars frame, a pyarrow table or batch,
    or a local Parquet file's path."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if isinstance(frame, (str, os.PathLike)):
        import pyarrow.parquet as pq

        return pq.read_table(frame)
    module = _module(frame)
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if module == "polars":
        return frame.to_arrow()
    raise TypeError(
        f"expected a pandas or polars DataFrame, a pyarrow Table or RecordBatch, "
        f"or a Parquet file's path; got {type(frame).__name__}"
    )


def ipc_stream(table: pa.Table) -> bytes:
    """The table as one Arrow IPC stream (schema + record batches)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def to_pandas(table: pa.Table):
    """pandas (extra ``featurestore[pandas]``); timestamps keep their zone.

    ``table`` is consumed: each column becomes its own block (no
    consolidation copy of a result streamed in many batches) and its Arrow
    buffers are released as they are converted, so the peak is not both
    copies at once."""
    try:
        import pandas  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas needs pandas: pip install 'featurestore[pandas]'") from e
    return table.to_pandas(split_blocks=True, self_destruct=True)


def to_polars(table: pa.Table):
    """polars (extra ``featurestore[polars]``), without copying the columns
    where polars can take Arrow's buffers."""
    try:
        import polars
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_polars needs polars: pip install 'featurestore[polars]'") from e
    return polars.from_arrow(table)
