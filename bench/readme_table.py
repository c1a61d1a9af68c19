"""Print bench/results/latest.json as the README's Markdown table.

.venv/bin/python bench/readme_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def figure(value: float) -> str:
    return f"{value:.2f}" if value < 1 else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def row(who: str, name: str, result: dict, clients: list[int]) -> str:
    statements = result["statements"]
    cells = [who, f"{name} `{result['path']}`", f"{statements['demo']} → {statements['grown']}"]
    cells.append(f"{result['bytes'] / 1024:.1f}")
    for c in clients:
        level = result["clients"][str(c)]
        cells += [
            figure(level["rps"]),
            f"{level['p50_ms']:.1f}",
            f"{level['p95_ms']:.1f}",
            f"{level['ratio_to_baseline']:.2f}",
        ]
        others = {s: n for s, n in level["statuses"].items() if s != "200"}
        if others:
            answered = ", ".join(f"{n} answered {s}" for s, n in others.items())
            cells[-1] += f" ({answered})"
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    data = json.loads(RESULTS.read_text())
    clients = data["clients"]
    head = ["signed in as", "page", "SQL demo → grown", "KiB"]
    for c in clients:
        head += [f"req/s ({c})", f"p50 ms ({c})", f"p95 ms ({c})", f"ratio ({c})"]
    print("| " + " | ".join(head) + " |")
    print("|---|---|" + "--:|" * (len(head) - 2))
    print(row("—", "baseline", data["baseline"], clients))
    for page in data["pages"]:
        print(row(page["signed_in_as"], page["name"], page, clients))


if __name__ == "__main__":
    main()
