"""The demo's breaking "patch" 1.1.1: the sample order app 1.1.0 (samples/1.1.0) with one change,
it charges the payment before it reserves the stock.

Harmless for new orders, fatal for the ones waiting on lane 1.1: their histories say the first
activity was `reserve_stock`, and replayed here the orchestrator asks for `charge_payment` first.
Used by the demo's second act: `check-patch` names the diverging instance, the router refuses the
patch (ROUTER_PATCH_GATE=require), and the same build is released as a new MINOR with a ramp.

Built from samples/1.1.0 so that the swap is the only difference the demo shows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from samples.build import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "1.1.0"
RESERVE = 'reservation = yield context.call_activity("reserve_stock", {"lines": lines})'
CHARGE = 'payment = yield context.call_activity("charge_payment", {"order_id": order_id, "lines": lines})'

# (text of samples/1.1.0/function_app.py, what replaces it): each must stand there exactly once.
EDITS = (
    ('APP_VERSION = "1.1.0"', 'APP_VERSION = "1.1.1 (charges first)"'),
    # The change: charge first. Reordered calls break the replay of every order in flight.
    (f"{RESERVE}\n    {CHARGE}", f"{CHARGE}\n    {RESERVE}"),
)


def charge_first_source(sample_source: str) -> str:
    """samples/1.1.0's function_app.py with EDITS applied."""
    for old, new in EDITS:
        if sample_source.count(old) != 1:
            raise ValueError(f"samples/1.1.0/function_app.py holds {old!r} {sample_source.count(old)} times, "
                             "not once: update demo/charge_first_app/build.py with it")
        sample_source = sample_source.replace(old, new)
    return "# Built by demo/charge_first_app/build.py: samples/1.1.0 charging first.\n" + sample_source


def build_charge_first_app(dest_dir: Path) -> Path:
    """Write the app into `dest_dir` (host.json and requirements.txt as the sample's); answers it."""
    source = charge_first_source((SAMPLE / "function_app.py").read_text(encoding="utf-8"))
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in ("host.json", "requirements.txt"):
        shutil.copyfile(SAMPLE / name, dest_dir / name)
    (dest_dir / "function_app.py").write_text(source, encoding="utf-8")
    return dest_dir
