# Per-kernel share of a decode step from a kernel_trace.c CSV (start_ns,end_ns,gridX,gridY,gridZ,name): steps end at
# argmax_final; for each step length seen, the median over steps of each kernel's increment (its end minus the previous
# kernel's end: what it adds to the step), its duration, and its start minus the previous end (negative: it started
# early under dependent launch); then the gap between consecutive steps (last end to next first start) and the memory
# copies in it. usage: python3 kernel_trace_steps.py trace.csv
import csv, sys, collections, statistics
ks = []; copies = []
for r in csv.reader(open(sys.argv[1])):
    if len(r) < 6: continue
    start, end = int(r[0]), int(r[1])
    name = ",".join(r[5:]).split("(")[0][:48]
    (copies if name.startswith("memcpy_") else ks).append((start, end, name, "%s,%s,%s" % (r[2], r[3], r[4])))
ks.sort(); copies.sort()
steps = []; cur = []
for k in ks:
    cur.append(k)
    if k[2].startswith("argmax_final"):
        steps.append(cur); cur = []
bylen = collections.defaultdict(list)
for s in steps: bylen[len(s)].append(s)
for n, group in sorted(bylen.items(), key=lambda kv: -len(kv[1]))[:4]:
    if len(group) < 5: continue
    group = group[len(group)//3:]  # drop warm-up
    tot = statistics.median(s[-1][1] - s[0][0] for s in group)
    print(f"## steps of {n} kernels: {len(group)} steps, median step {tot/1000:.1f} us (first start to last end)")
    inc = [[s[i][1] - (s[i-1][1] if i else s[0][0]) for i in range(n)] for s in group]
    dur = [[s[i][1] - s[i][0] for i in range(n)] for s in group]
    gapstart = [[s[i][0] - (s[i-1][1] if i else s[0][0]) for i in range(n)] for s in group]
    agg = collections.OrderedDict()
    for i in range(n):
        name = group[0][i][2]
        key = name
        a = agg.setdefault(key, [0, 0.0, 0.0, 0.0, group[0][i][3]])
        a[0] += 1
        a[1] += statistics.median(x[i] for x in inc)
        a[2] += statistics.median(x[i] for x in dur)
        a[3] += statistics.median(x[i] for x in gapstart)
    print(f"  {'kernel':48s} {'n':>4s} {'sum inc us':>10s} {'per us':>7s} {'dur us':>7s} {'start-prevend':>13s} grid")
    for k, a in agg.items():
        print(f"  {k:48s} {a[0]:4d} {a[1]/1000:10.1f} {a[1]/a[0]/1000:7.2f} {a[2]/a[0]/1000:7.2f} {a[3]/a[0]/1000:13.2f} {a[4]}")
    # one middle layer, kernel by kernel
    s = group[len(group)//2]
    print("  one step, kernels 20..34: name, start-rel us, dur us, inc us")
    for i in range(20, min(35, n)):
        print(f"    {s[i][2]:48s} {(s[i][0]-s[0][0])/1000:9.2f} {(s[i][1]-s[i][0])/1000:7.2f} {(s[i][1]-s[i-1][1])/1000:7.2f}")

# the gaps between consecutive steps of each frequent length, and the copies inside them
for n in [k for k in bylen if len(bylen[k]) >= 5]:
    seq = [st for st in steps if len(st) == n]
    seq = seq[len(seq)//3:]
    gaps = []; kinds = collections.Counter(); copytime = []
    for a, b in zip(seq, seq[1:]):
        lo, hi = a[-1][1], b[0][0]
        if hi - lo > 1_000_000: continue  # not back to back
        gaps.append(hi - lo)
        inside = [c for c in copies if lo <= c[0] < hi]
        copytime.append(sum(c[1] - c[0] for c in inside))
        for c in inside: kinds[c[2]] += 1
    if gaps:
        print(f"## between steps of {n} kernels: {len(gaps)} gaps, median {statistics.median(gaps)/1000:.2f} us "
              f"(min {min(gaps)/1000:.2f}), copies in them {statistics.median(copytime)/1000:.2f} us of copy time")
        for k, c in kinds.most_common(8): print(f"  {k}: {c / len(gaps):.1f} a gap")
