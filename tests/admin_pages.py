"""Read what a Django admin change page shows: its read-only fields and its inlines' rows, as text."""

import re
from html import unescape

_READONLY_FIELD = re.compile(r'<div class="form-row field-(\w+)">.*?<div class="readonly">(.*?)</div>', re.S)
_INLINE_ROW = re.compile(r'<tr class="form-row[^"]*"\s+id="(\w+)-\d+">(.*?)</tr>', re.S)
_INLINE_CELL = re.compile(r'<td class="field-(\w+)[^"]*">\s*<p>(.*?)</p>', re.S)
_TAG = re.compile(r"<[^>]+>")


def _text(html: str) -> str:
    return unescape(_TAG.sub("", html)).strip()


def readonly_fields(page: str) -> dict[str, str]:
    """The change form's fields, by name: {"amount": "4800", ...}."""
    return {name: _text(value) for name, value in _READONLY_FIELD.findall(page)}


def inline_rows(page: str, prefix: str) -> list[dict[str, str]]:
    """The rows of one inline (its formset prefix: "postings", "refunds"...), each {field: text}."""
    return [{name: _text(value) for name, value in _INLINE_CELL.findall(row)}
            for row_prefix, row in _INLINE_ROW.findall(page) if row_prefix == prefix]
