"""Screenshots of the explorer page for the documentation: a word's language and a tagged sentence.

    .venv/bin/python examples/explore_screenshots.py [--word-run RUN] [--tagger-run RUN] [--out docs/images]

Without runs it first trains two small ones into runs/ (one epoch each, a minute or two on 2 cores), writes
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
SHOTS = {  # name: (task, training options, the input shown)
    "explore-word-language": ("word-language", ["--cell", "lstm"], "schmetterling"),
    "explore-upos": ("upos", [], "The old man saw the boat on the river ."),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--word-run", type=Path, help="a trained word-language run (default: train one)")
    parser.add_argument("--tagger-run", type=Path, help="a trained UPOS run (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    given = {"explore-word-language": args.word_run, "explore-upos": args.tagger_run}
    with headless_chromium() as driver:
        for name, (task, options, text) in SHOTS.items():
            run = given[name]
            if run is None:
                run = Path("runs") / f"{name}-example"
                if not (run / "best.pt").exists():
                    cli.main(["train", "--task", task, *SMALL, *options, "--run-dir", str(run)])
            page = run / "explore.html"
            cli.main(["explore", str(run), text, "--output", str(page)])
            png = screenshot(driver, page, args.out / f"{name}.png", width=1200, height=900)
            Image.open(png).convert("RGB").quantize(colors=128).save(png, optimize=True)
            print(f"written: {png} ({png.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
