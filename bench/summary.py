"""The `make bench` table: every item's rows from results/bench/<item>.csv, one table with
item, measure, measured, target and met (yes/no; blank where a row has no target), headed by
the machine (cores, memory) and the date of the measurements.

Exits 1 when an item has no CSV (its script failed or was not run); missed targets are
results, not failures. --quick reads results/bench-quick/ instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

WIDTHS = (10, 62, 16, 12, 3)  # item, measure, measured, target, met


def measured(record: dict) -> str:
    value, unit = record["value"], record["unit"]
    try:
        number = float(value)
    except ValueError:  # text: "yes", "8 x 25", "458 / 26"
        return f"{value} {unit}".strip()
    if unit == "s" and number >= 120:
        minutes, seconds = divmod(round(number), 60)
        return f"{minutes} min {seconds} s"
    if unit in ("MB", "%") or (unit == "s" and number >= 10):
        return f"{number:.0f} {unit}"
    if unit in ("s", ""):
        return f"{number:.3g} {unit}".strip()
    return f"{value} {unit}"


def line(cells) -> str:
    # The measure wraps; the other cells are short.
    wrapped = textwrap.wrap(cells[1], WIDTHS[1]) or [""]
    first = "  ".join(str(c).ljust(w) for c, w in zip((cells[0], wrapped[0], *cells[2:]), WIDTHS,
                                                      strict=True))
    rest = ["  ".join(("".ljust(WIDTHS[0]), part)) for part in wrapped[1:]]
    return "\n".join([first.rstrip(), *rest])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="read results/bench-quick/")
    args = parser.parse_args()
    directory = common.out_dir(args.quick)
    stamps, loads, missing, lines = set(), [], [], []
    for item in common.ITEMS:
        path = directory / f"{item}.csv"
        if not path.exists():
            missing.append(item)
            lines.append(line((item, "NOT MEASURED (no CSV: the script failed or was not run)",
                               "", "", "")))
            continue
        records = common.read_csv(path)
        if records and "measure" not in records[0]:
            missing.append(item)
            lines.append(line((item, "NOT MEASURED (an older CSV format: re-run the item)",
                               "", "", "")))
            continue
        for record in records:
            stamps.add(record["measured_at"][:10])
            if not loads or loads[-1][0] != item:
                loads.append((item, record.get("load_average") or "?"))
            lines.append(line((item, record["measure"], measured(record), record["target"],
                               record["met"])))
            if record["note"]:
                lines.append(line(("", f"  ({record['note']})", "", "", "")))
    dates = ", ".join(sorted(stamps)) or datetime.now().date().isoformat()
    print(f"\nmake bench{' --quick (tiny sizes: targets do not apply)' if args.quick else ''}: "
          f"measured {dates} (UTC) on {common.machine()} now; CSVs in "
          f"{directory.relative_to(common.REPO)}/")
    header = line(("item", "measure", "measured", "target", "met"))
    print(header)
    print("-" * len(header))
    print("\n".join(lines))
    print(f"load average (1 min) at each item's start -> end, on {os.cpu_count()} "
          f"cores: " + "; ".join(f"{item} {load}" for item, load in loads))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
