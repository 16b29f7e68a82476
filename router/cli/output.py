"""Where a command's output goes: plain text, JSON lines, or rich on a terminal; never a secret.

Every byte a command writes passes through `RedactingStream`, which replaces the key (and any
other secret handed to it) before it reaches the stream: an error message, a `--verbose` line
or a traceback that happens to quote the key prints `***` instead. rich is imported only when
stdout is a terminal, and its absence falls back to plain text (the router app does not ship it).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence, TextIO

REDACTED = "***"


class RedactingStream:
    """A text stream that writes `secrets` as `***`."""

    def __init__(self, stream: TextIO, secrets: Iterable[str]) -> None:
        self._stream = stream
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def write(self, text: str) -> int:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"


def rich_installed() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class Output:
    """A command's stdout and stderr, and how to show things on them."""

    def __init__(self, out: RedactingStream, err: RedactingStream, *, as_json: bool = False,
                 fancy: bool | None = None) -> None:
        self.out, self.err, self.as_json = out, err, as_json
        # rich only for people at a terminal; a pipeline's log gets plain lines.
        self.fancy = (out.isatty() if fancy is None else fancy) and not as_json and rich_installed()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """A line for people on stderr (progress notes, --verbose, errors)."""
        self.err.write(text + "\n")
        self.err.flush()

    def document(self, value: Any) -> None:
        """One JSON document on one line."""
        self.line(json.dumps(value, separators=(",", ":"), sort_keys=False))

    def console(self) -> Any:
        """A rich Console on stdout (only when `self.fancy`)."""
        from rich.console import Console

        return Console(file=self.out, force_terminal=True, highlight=False)

    def table(self, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.fancy:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for header in headers:
                table.add_column(header)
            for row in rows:
                table.add_row(*(_cell(value) for value in row))
            self.console().print(table)
            return
        if title:
            self.line(title)
        self.line(format_table(headers, rows))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned with spaces, a rule under the headers; empty cells as `-`."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
