"""Structured logs: one JSON object per line, with the request's id and caller on every line.

The request middleware binds the request context (request id, API client) in a context variable;
`RequestContextFilter` copies it onto every record logged while the request runs, whichever
logger wrote it. The formatters scrub what must never reach a log: authorization headers, API
keys, secrets and card-like numbers.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("mintguard_log_context", default=None)

# Attributes every LogRecord has: everything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Fields whose values are never logged, whatever their content.
_SENSITIVE_FIELD = re.compile(
    r"authorization|password|passwd|secret|token|api_?key|cookie|csrf|signature|card|cvv|cvc|^pan$", re.I
)
# Objects Django passes in `extra` that must not be serialized (they hold headers and bodies).
_DROPPED_FIELDS = frozenset({"request", "response", "server_time"})
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+")
_API_KEY = re.compile(r"\bmg_[A-Za-z0-9_\-]{12,}")
# 13-19 digits, optionally grouped by single spaces or hyphens, not part of a longer token.
_CARD_LIKE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
REDACTED = "[redacted]"


def bind(**fields) -> contextvars.Token:
    """Add fields to the log context of the current request (or task); return a token to reset."""
    return _context.set({**(_context.get() or {}), **fields})


def reset(token: contextvars.Token) -> None:
    _context.reset(token)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[card ****{digits[-4:]}]" if _luhn_valid(digits) else match.group(0)


def scrub(text: str) -> str:
    """Remove credentials, API keys and card numbers from free text."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _API_KEY.sub(f"mg_{REDACTED}", text)
    return _CARD_LIKE.sub(_mask_card, text)


def _clean(key: str, value):
    if _SENSITIVE_FIELD.search(key):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, v) for v in value]
    return scrub(str(value))


def record_fields(record: logging.LogRecord) -> dict:
    """Return the record's `extra` fields, scrubbed and JSON-safe."""
    return {
        key: _clean(key, value)
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and key not in _DROPPED_FIELDS and not key.startswith("_")
    }


class RequestContextFilter(logging.Filter):
    """Copy the bound request context onto the record (fields given in `extra` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: ts, level, logger, message, pid, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "pid": record.process,
        }
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A one-line human format with the same scrubbing, for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in record_fields(record).items())
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {scrub(record.getMessage())}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line = f"{line}\n{scrub(self.formatException(record.exc_info))}"
        return line
