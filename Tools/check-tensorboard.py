#!/usr/bin/env python3
"""Reads the event file(s) of `splat train/fit --log-dir DIR` back with the
tensorboard package and prints each scalar tag, its count and last value.

    python3 Tools/check-tensorboard.py DIR     (pip install tensorboard)
"""
import os
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    sys.exit("check-tensorboard: needs the tensorboard package (pip install tensorboard)")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if not os.path.isdir(sys.argv[1]):
        sys.exit(f"check-tensorboard: {sys.argv[1]} is not a folder")
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    if not tags:
        sys.exit(f"check-tensorboard: no scalars in {sys.argv[1]}")
    for tag in sorted(tags):
        events = acc.Scalars(tag)
        last = events[-1]
        print(f"{tag}: {len(events)} values, steps {events[0].step}..{last.step}, last {last.value:.6g}")


if __name__ == "__main__":
    main()
