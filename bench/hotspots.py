"""Where a py-spy profile spent its samples: the top functions by own and by inclusive time.

    python -m bench.hotspots bench/profiles/clicks-100.txt [--top 25] [--match bot/]

Reads py-spy's raw (collapsed stack) output, one ``frame;frame;... count`` line per stack.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")


def function_of(frame: str) -> str:
    """``name (path/to/file.py:12)`` without the line number and the site-packages prefix."""
    frame = _LINE_NUMBER.sub(")", frame.strip())
    return re.sub(r"\(.*?(site-packages|lib/python3\.\d+|/work/main)/", "(", frame)


def read(path: Path) -> tuple[Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [function_of(f) for f in stack.split(";")]
        # py-spy records no idle samples; with --gil only those of the thread holding the GIL.
        own[frames[-1]] += samples
        for name in set(frames[1:]):
            inclusive[name] += samples
        total += samples
    return own, inclusive, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose text contains this")
    args = parser.parse_args()
    own, inclusive, total = read(args.profile)
    for title, counts in (("own", own), ("inclusive", inclusive)):
        print(f"\n{title} time, % of {total} samples")
        shown = [(n, c) for n, c in counts.most_common() if args.match in n][: args.top]
        for name, count in shown:
            print(f"{100 * count / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()
