"""Redraw docs/img/quickstart-leaderboard.png, the README's plot, from the last quickstart run
in the current directory's store (the report's benchmark plot, as `reelflow report` draws it).

    cd <where you ran reelflow quickstart> && python /path/to/scripts/readme_plot.py
"""

from __future__ import annotations

from pathlib import Path

from reelflow import Client
from reelflow.bench._report import bars_png

OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "quickstart-leaderboard.png"

if __name__ == "__main__":
    run = Client().latest_run("PersonalizationFlow")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    print(bars_png(run["choose"].task["benchmark"], OUT))
