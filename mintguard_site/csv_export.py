"""Streamed CSV downloads: a million rows never sit in memory.

The rows are an iterator (a queryset's `.iterator(chunk_size=...)` or a generator over one); each
row is written to a tiny buffer and handed to the client at once, so memory stays flat whatever the
number of rows. The dashboard's exports and the trial balance's CSV answer with `csv_response`.
"""

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
# Characters a spreadsheet reads as the start of a formula: a cell that starts with one is
# prefixed with "'" so an exported description can never run as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write returns what it was given, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value) -> object:
    """Return the value as a spreadsheet shows it safely: numbers unchanged, formula-like text quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield the header line, then one CSV line per row."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    """A streamed CSV download named `filename`."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
