"""Where a report's numbers came from: the report's own command and machine, and what the runs
it summarises recorded in their provenance.json (commits, hosts, devices, dates, versions)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rlgen.runs import provenance

EXTRA_PACKAGES = ("matplotlib", "scipy")  # the report's own plots and statistics


def report_provenance(command: str) -> dict[str, Any]:
    p = provenance(None)
    packages = dict(p["packages"])
    for name in EXTRA_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    commit = p["git_commit"] or "unknown (not a git checkout)"
    if p["git_dirty"]:
        commit += " (with uncommitted changes)"
    return {"date (UTC)": p["time"], "command": command, "git commit": commit,
            "machine": f"{p['host']}: {p['platform']}, {p['cpus']} CPUs, Python {p['python']}",
            "packages": packages}


def _distinct(values: Sequence[Any]) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v is not None))
    return ", ".join(seen) if seen else "–"


def runs_provenance(runs: Sequence[str | Path]) -> dict[str, Any] | None:
    """What the runs recorded when they started (or last resumed); None if none recorded any."""
    records = []
    for run in runs:
        path = Path(run) / "provenance.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
    if not records:
        return None
    commits = [r.get("git_commit", "")[:12] + ("+dirty" if r.get("git_dirty") else "") for r in records]
    times = sorted(r["time"] for r in records if r.get("time"))
    packages = {}
    for name in dict.fromkeys(k for r in records for k in r.get("packages", {})):
        packages[name] = _distinct([r.get("packages", {}).get(name) for r in records])
    return {"runs with provenance": f"{len(records)} of {len(runs)}",
            "git commits": _distinct(commits), "hosts": _distinct([r.get("host") for r in records]),
            "devices": _distinct([r.get("device") for r in records]),
            "platforms": _distinct([r.get("platform") for r in records]),
            "started (UTC)": f"{times[0]} … {times[-1]}" if times else "–",
            "packages": packages}
