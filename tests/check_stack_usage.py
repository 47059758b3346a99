#!/usr/bin/env python3
"""Worst-case stack depth of a runtime entry point, from GCC's call-graph files.

GCC's -fcallgraph-info=su writes, next to each object, a .ci file (VCG text): one node per
function with its frame size from -fstack-usage, one edge per call site. This script reads all
of them under BUILD_DIR, then walks every call path from the entry function (matched by a
regex on its demangled name) and sums the frames along the deepest one.

  - An indirect call (through the kernel table or a callback) from a function whose name matches
    CALLER in an --indirect CALLER=TARGETS spec (two regexes) may reach any function matching
    TARGETS: the deepest of those is counted. An indirect call no spec covers fails the check.
  - A function without a frame size (a library routine such as memcpy) counts as 0 and is
    listed; recursion fails the check (the runtime has none).
  - A frame that is neither "static" nor "dynamic,bounded" (an alloca or a variable-length array
    of unbounded size) fails the check.

Exit status 0 when the deepest path is at most LIMIT bytes; prints that path either way.
Used by ctest (tests/CMakeLists.txt, docs/design.md "Stack").
"""
import argparse
import pathlib
import re
import sys

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def short(title):
    # Local (static) functions are titled "file:symbol"; globals by their symbol.
    return title.rsplit(":", 1)[-1] if title.count(":") and "/" in title else title


def load(build_dir):
    frames, names, calls = {}, {}, {}
    files = list(pathlib.Path(build_dir).rglob("*.ci"))
    for ci in files:
        text = ci.read_text(errors="replace")
        for title, label in NODE.findall(text):
            parts = label.split("\\n")
            names.setdefault(title, parts[0])
            m = re.search(r"(\d+) bytes \((\w+(?:,\w+)*)\)", label)
            if m:
                frames[title] = (int(m.group(1)), m.group(2))
        for src, dst in EDGE.findall(text):
            calls.setdefault(src, set()).add(dst)
    return files, frames, names, calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("entry", help="regex (re.search) matching the entry function's demangled name")
    ap.add_argument("limit", type=int, help="bytes")
    ap.add_argument("--indirect", action="append", default=[], metavar="CALLER=TARGETS",
                    help="regexes: what an indirect call from CALLER may reach")
    args = ap.parse_args()

    files, frames, names, calls = load(args.build_dir)
    if not files:
        print(f"no .ci files under {args.build_dir}: build with -fcallgraph-info=su (GCC)")
        return 1
    entries = [t for t, n in names.items() if re.search(args.entry, n) and t in frames]
    if len(entries) != 1:
        print(f"entry {args.entry!r} matches {len(entries)} functions with a frame: "
              + "; ".join(names[t] for t in entries))
        return 1
    specs = [spec.split("=", 1) for spec in args.indirect]

    def indirect_targets(t):
        caller = names.get(t, t)
        for c, targets in specs:
            if re.search(c, caller):
                return {u for u, n in names.items() if u in frames and re.search(targets, n)}
        problems.append(f"{caller}: indirect call no --indirect spec covers")
        return set()

    problems, unknown, memo, active = [], set(), {}, set()

    def deepest(t):
        """(bytes, path) of the deepest call chain starting in t."""
        if t in memo:
            return memo[t]
        if t in active:
            problems.append(f"recursion through {names.get(t, t)}")
            return 0, []
        active.add(t)
        size, kind = frames.get(t, (0, "static"))
        if t not in frames and t != "__indirect_call":
            unknown.add(names.get(t, t))
        if kind not in ("static", "dynamic,bounded"):
            problems.append(f"{names.get(t, t)}: frame is {kind}")
        targets = set(calls.get(t, ()))
        if "__indirect_call" in targets:
            targets.discard("__indirect_call")
            targets |= indirect_targets(t)
        best = (0, [])
        for c in sorted(targets):
            d = deepest(c)
            if d[0] > best[0]:
                best = d
        active.discard(t)
        memo[t] = (size + best[0], [(names.get(t, t), size)] + best[1])
        return memo[t]

    total, path = deepest(entries[0])
    print(f"deepest stack from {names[entries[0]]}: {total} bytes (limit {args.limit})")
    for name, size in path:
        print(f"  {size:6d}  {name}")
    if unknown:
        print("counted as 0 (no frame size known: library routines): " + ", ".join(sorted(unknown)))
    for p in problems:
        print("problem: " + p)
    return 0 if total <= args.limit and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
