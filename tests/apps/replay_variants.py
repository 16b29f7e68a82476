"""The variants of tests/apps/replay_v1, each written as the few lines it changes.

A replay test needs the code that recorded the histories (replay_v1), a compatible patch and
breaking changes of each kind; each variant here is replay_v1 with its edits applied, built into a
directory of its own (`build_variant`) that the dev host, `devhost replay` and
`python -m provisioning package` take as any app.

An edit names a function of replay_v1's function_app.py, one line of it (its text without
indentation, which must stand there exactly once, or the build fails) and the lines that replace
it, written at that line's indentation; no lines deletes it. `appended` is code added at the end
of the module.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

V1 = Path(__file__).resolve().parent / "replay_v1"

Edit = tuple[str, str, tuple[str, ...]]  # (function, its line, the lines that replace it)


@dataclass(frozen=True)
class Variant:
    change: str  # what differs from replay_v1, and what a replay of v1's histories shows
    edits: tuple[Edit, ...]
    appended: str = ""  # code added at the end of the module


VARIANTS: dict[str, Variant] = {
    "replay_v1_patch_ok": Variant(
        "a compatible patch: the same steps in the same order, other outputs and a custom status; "
        "every history replays clean",
        edits=(
            ("chain", 'shipped = yield context.call_activity("ship", charged)',
             ('context.set_custom_status({"approved": bool(approved)})',
              'shipped = yield context.call_activity("ship", charged)')),
            ("chain", 'return {"shipped": shipped, "approved": approved}',
             ('return {"shipped": shipped, "approved": approved, "patched": True}',)),
            ("looping", 'return {"rounds": round_number + 1, "approved": approved}',
             ('return {"rounds": round_number + 1, "approved": approved, "patched": True}',)),
            ("ship", 'return f"shipped {what}"',
             ('return f"shipped {what} (patched)"',)),
        ),
    ),
    "replay_reordered": Variant(
        "chain's first two activities swapped: every chain history diverges at its first task "
        "(expected reserve, produced charge)",
        edits=(
            ("chain", 'reserved = yield context.call_activity("reserve", item)',
             ('charged = yield context.call_activity("charge", item)',)),
            ("chain", 'charged = yield context.call_activity("charge", reserved)',
             ('reserved = yield context.call_activity("reserve", charged)',)),
            ("chain", 'shipped = yield context.call_activity("ship", charged)',
             ('shipped = yield context.call_activity("ship", reserved)',)),
        ),
    ),
    "replay_renamed": Variant(
        "chain's second activity renamed (charge -> charge_card): every chain history diverges at "
        "that task",
        edits=(
            ("chain", 'charged = yield context.call_activity("charge", reserved)',
             ('charged = yield context.call_activity("charge_card", reserved)',)),
        ),
        appended=(
            '\n\n@app.activity_trigger(input_name="what")\n'
            "def charge_card(what: str) -> str:\n"
            '    return f"charged card for {what}"\n'
        ),
    ),
    "replay_removed_timer": Variant(
        "timed's durable timer removed: every timed history diverges at the timer "
        "(expected timer, produced activity charge)",
        edits=(
            ("timed", "yield context.create_timer(context.current_utc_datetime + TIMER)", ()),
        ),
    ),
    "replay_added_wait": Variant(
        'a wait_for_external_event("confirm") added to chain before its second activity: every '
        "chain history diverges at that activity, which the code no longer reaches",
        edits=(
            ("chain", 'charged = yield context.call_activity("charge", reserved)',
             ('yield context.wait_for_external_event("confirm")',
              'charged = yield context.call_activity("charge", reserved)')),
        ),
    ),
}


class VariantError(ValueError):
    """A variant's edit no longer matches replay_v1 (v1 changed: update the edit with it)."""


def _function_lines(lines: list[str], function: str) -> range:
    """The indices of the lines of the top-level `def function(...)`, to its last indented line."""
    starts = [i for i, line in enumerate(lines) if line.startswith(f"def {function}(")]
    if len(starts) != 1:
        raise VariantError(f"{len(starts)} functions named {function} in replay_v1/function_app.py")
    end = starts[0] + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0].isspace()):
        end += 1
    return range(starts[0], end)


def edited_source(v1_source: str, variant: Variant) -> str:
    """`v1_source` with the variant's edits applied, each to the one line it names."""
    lines = v1_source.splitlines()
    replacements: dict[int, list[str]] = {}
    for function, old, new in variant.edits:
        found = [i for i in _function_lines(lines, function) if lines[i].strip() == old]
        if len(found) != 1:
            raise VariantError(f"{old!r} stands {len(found)} times in {function}() of "
                               "replay_v1/function_app.py, not exactly once")
        (index,) = found
        if index in replacements:
            raise VariantError(f"two edits of the same line {old!r}")
        indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
        replacements[index] = [indent + line for line in new]
    edited = [out for i, line in enumerate(lines) for out in replacements.get(i, [line])]
    header = f"# Built by tests/apps/replay_variants.py: replay_v1 with {variant.change}.\n"
    return header + "\n".join(edited) + "\n" + variant.appended


def build_variant(name: str, dest_dir: Path) -> Path:
    """Write the variant `name` (a key of VARIANTS) as an app in `dest_dir`: its edited
    function_app.py and replay_v1's host.json. Returns `dest_dir`."""
    if name not in VARIANTS:
        raise VariantError(f"unknown replay variant {name!r}: one of {', '.join(VARIANTS)}")
    try:
        source = edited_source((V1 / "function_app.py").read_text(encoding="utf-8"), VARIANTS[name])
    except VariantError as error:
        raise VariantError(f"replay variant {name}: {error}") from None
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(V1 / "host.json", dest_dir / "host.json")
    (dest_dir / "function_app.py").write_text(source, encoding="utf-8")
    return dest_dir


def replay_app(name: str, scratch: Path) -> Path:
    """The app directory of `name`: tests/apps/replay_v1 itself, or the variant built under
    `scratch`."""
    return V1 if name == "replay_v1" else build_variant(name, scratch / name)
