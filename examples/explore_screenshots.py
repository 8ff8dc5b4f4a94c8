"""Screenshots of the explorer page for the documentation: a word's language, a tagged sentence and a forecast.

    .venv/bin/python examples/explore_screenshots.py [--word-run RUN] [--tagger-run RUN] [--forecast-run RUN]
        [--only explore-forecast ...] [--out docs/images]

Without runs it first trains three small ones into runs/ (one epoch each, a few minutes on 2 cores), writes
their explorer pages beside them, and photographs the top of each page in Debian's headless Chromium
(apt-get install chromium chromium-driver).  The PNGs are reduced to 128 colours to stay small.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from rnnlab import cli
from rnnlab.bench.browser import headless_chromium, screenshot

SMALL = ["--epochs", "1", "--hidden-size", "64", "--num-layers", "1"]
SHOTS = {  # name: (task, training options, the inputs shown)
    "explore-word-language": ("word-language", ["--cell", "lstm"], ["schmetterling"]),
    "explore-upos": ("upos", [], ["The old man saw the boat on the river ."]),
    # no input: the last forecast of the run's test stretch, against what really happened
    "explore-forecast": ("taylor", ["--cell", "lstm"], []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--word-run", type=Path, help="a trained word-language run (default: train one)")
    parser.add_argument("--tagger-run", type=Path, help="a trained UPOS run (default: train one)")
    parser.add_argument("--forecast-run", type=Path, help="a trained taylor run (default: train one)")
    parser.add_argument("--only", nargs="+", choices=list(SHOTS), default=list(SHOTS), help="the screenshots made")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    given = {"explore-word-language": args.word_run, "explore-upos": args.tagger_run,
             "explore-forecast": args.forecast_run}
    with headless_chromium() as driver:
        for name in args.only:
            task, options, inputs = SHOTS[name]
            run = given[name]
            if run is None:
                run = Path("runs") / f"{name}-example"
                if not (run / "best.pt").exists():
                    cli.main(["train", "--task", task, *SMALL, *options, "--run-dir", str(run)])
            page = run / "explore.html"
            cli.main(["explore", str(run), *inputs, "--output", str(page)])
            png = screenshot(driver, page, args.out / f"{name}.png", width=1200, height=900)
            Image.open(png).convert("RGB").quantize(colors=128).save(png, optimize=True)
            print(f"written: {png} ({png.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
