#!/usr/bin/env python3
"""Summary of a step-side-by-side.sh run: python3 side-by-side-summary.py NAME (the logs NAME-{old,new}-<round>.txt
beside this file). Per round the median and minimum ms per step of each side and old/new; then the median over
rounds of each, the median of the per-round ratios, in how many rounds new was faster, and the load averages the
logs recorded."""
import re, statistics, sys
from pathlib import Path

name = sys.argv[1]
here = Path(__file__).parent
rounds = sorted({int(m.group(1)) for p in here.glob(f'{name}-old-*.txt') if (m := re.search(r'-(\d+)\.txt$', p.name))})

def read(tag, r):
    text = (here / f'{name}-{tag}-{r}.txt').read_text()
    line = text.split('ms/step', 1)[1].splitlines()[2].split()
    loads = [float(x) for x in re.findall(r'load average: ([\d.]+)', text)]
    return float(line[0]), float(line[1]), text.splitlines()[0], loads

rows, loads = [], []
print(f'{"round":>5} {"old ms":>8} {"new ms":>8} {"old/new":>8} {"old min":>8} {"new min":>8} {"old/new":>8}')
for r in rounds:
    (om, omin, oc, ol), (nm, nmin, nc, nl) = read('old', r), read('new', r)
    rows.append((om, nm, omin, nmin)); loads += ol + nl
    print(f'{r:>5} {om:>8.1f} {nm:>8.1f} {om / nm:>8.3f} {omin:>8.1f} {nmin:>8.1f} {omin / nmin:>8.3f}')
med = lambda i: statistics.median(x[i] for x in rows)
print(f'old: {oc}; new: {nc}; {len(rows)} rounds')
print(f'median over rounds of the median ms per step: old {med(0):.1f}, new {med(1):.1f}: old/new {med(0) / med(1):.3f}')
print(f'median of the per-round ratios old/new: {statistics.median(o / n for o, n, _, _ in rows):.3f}; new faster in {sum(o > n for o, n, _, _ in rows)} of {len(rows)} rounds')
print(f'median over rounds of the minimum ms per step: old {med(2):.1f}, new {med(3):.1f}: old/new {med(2) / med(3):.3f}')
print(f'load averages recorded in the logs: {min(loads):.2f} to {max(loads):.2f}')
