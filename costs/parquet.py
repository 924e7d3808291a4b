"""Reading FOCUS cost files written as Parquet (AWS Data Exports, Azure FocusCost exports, uploads).

A Parquet file is turned into the CSV lines :class:`costs.focus.FocusReader`
reads, header first, so a Parquet file is held to exactly the rules of a CSV
one. The file is read one record batch at a time (never the whole table) and
each batch is made text column by column with ``pyarrow.compute``:

* timestamps (any unit, with or without a time zone; FOCUS datetimes are UTC,
  so one without a zone is taken as UTC) as ``YYYY-MM-DDTHH:mm:ssZ`` in UTC,
  dates as midnight UTC of that day;
* decimals with every digit they hold (cast to text, never through a float);
* maps and structs (Parquet exports may write Tags as a map) and lists as the
  JSON the CSV form carries; a JSON string column is kept as written;
* nulls as empty fields.

Row *n* of the file (counting from 1) is the CSV line *n* + 1, the header
being line 1: that is the line a :class:`~costs.focus.RowError` names, and
the reader adds the row of the Parquet file to each message.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from costs.focus import FocusInputError

# Rows made into text at a time: a few MiB of text however wide the file's rows are.
BATCH_ROWS = 4096
_TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%SZ"
_UTC_SECONDS = pa.timestamp("s", tz="UTC")


class ParquetUnreadable(FocusInputError):
    """The file is not Parquet, or a part of it cannot be read: the reading stops there, and the message says what."""


def parquet_lines(file: IO[bytes]) -> Iterator[str]:
    """The file's rows as CSV lines (each ending in a newline), the header first.

    Raises :class:`ParquetUnreadable` when the file is not Parquet, or a part
    of it is damaged or holds values with no text form (binary that is not
    UTF-8); partway through, the lines already given are of the rows before.
    """
    try:
        parquet = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as error:
        raise ParquetUnreadable(1, f"the file is not a Parquet file that can be read ({_reason(error)})") from None
    names = parquet.schema_arrow.names
    header = io.BytesIO()  # the file's own names, duplicates too (the reader refuses those)
    pa_csv.write_csv(pa.Table.from_arrays([pa.array([], pa.string()) for _ in names], names=names), header)
    yield header.getvalue().decode("utf-8")
    options = pa_csv.WriteOptions(include_header=False)
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    line = 1  # the header's; row n of the file is line n + 1
    while True:
        try:
            batch = next(batches, None)
            if batch is None:
                return
            text = pa.Table.from_arrays(
                [_as_text(batch.column(index)) for index in range(batch.num_columns)],
                # Placeholder names: the header went out above with the file's own (duplicates too, refused there).
                names=[f"c{index}" for index in range(batch.num_columns)],
            )
            sink = io.BytesIO()
            pa_csv.write_csv(text, sink, options)
        except (pa.ArrowException, OSError) as error:
            raise ParquetUnreadable(
                line + 1, f"this part of the Parquet file cannot be read ({_reason(error)})"
            ) from None
        for row in _rows(sink.getvalue().decode("utf-8")):
            line += 1
            yield row


def _rows(text: str) -> Iterator[str]:
    """CSV text one row per string, a quoted line break kept inside its row's string: csv counts a line per
    string, so row n of the file stays line n + 1 even when a value holds a line break."""
    row: list[str] = []
    quoted = False  # inside a quoted field: quotes in a field are doubled, so their parity tells
    for line in io.StringIO(text, newline="\n"):  # split on "\n" only
        row.append(line)
        quoted ^= line.count('"') % 2 == 1
        if not quoted:
            yield "".join(row)
            row = []


def _as_text(column: pa.Array) -> pa.Array:
    """One column of a batch as strings in the form the FOCUS CSV carries (nulls stay null: empty fields)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _as_text(column.dictionary_decode())
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        # A zone-aware timestamp is stored as UTC: giving it the UTC zone changes no instant. One without a zone
        # is taken as UTC (FOCUS datetimes are). Sub-second parts are dropped: FOCUS datetimes are to the second.
        if pa.types.is_timestamp(kind) and kind.tz is None:
            column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
        # Rows repeat a few instants (days, hours): each distinct one is written once.
        instants = pc.dictionary_encode(column.cast(_UTC_SECONDS, safe=False))
        return pc.take(pc.strftime(instants.dictionary, format=_TIMESTAMP_TEXT), instants.indices)
    if pa.types.is_nested(kind):
        return _as_json(column)
    # Strings stay as written (binary ones, as some writers store text, must be UTF-8); decimals become their
    # exact digits; numbers and booleans their usual text.
    return column.cast(pa.string())


def _as_json(column: pa.Array) -> pa.Array:
    """A map, struct or list column as JSON text. Python builds it, once per distinct value in the batch:
    tags repeat from row to row, and compute has no JSON writer."""
    made: dict[str, str] = {}
    values: list[str | None] = []
    for value in column.to_pylist():
        if value is None:
            values.append(None)
            continue
        plain = _plain(value, column.type)
        key = repr(plain)
        if key not in made:
            made[key] = json.dumps(plain, ensure_ascii=False, default=str)
        values.append(made[key])
    return pa.array(values, pa.string())


def _plain(value: Any, kind: pa.DataType) -> Any:
    """``value`` (from ``to_pylist``) with its maps as dicts, as JSON writes them."""
    if value is None:
        return None
    if pa.types.is_map(kind):
        return {str(key): _plain(item, kind.item_type) for key, item in value}
    if pa.types.is_struct(kind):
        return {field.name: _plain(value.get(field.name), field.type) for field in kind}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return [_plain(item, kind.value_type) for item in value]
    return value


def _reason(error: Exception) -> str:
    """The first line of pyarrow's message, which names what is wrong without a stack of internals."""
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
