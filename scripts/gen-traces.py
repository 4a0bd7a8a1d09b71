#!/usr/bin/env python3
"""Generate synthetic access traces (format 1 of tiering-trace-format.md) for tiering work.

Families (one workload shape each; every one is deterministic by --seed):

  web        zipf-popular web assets (thumbnails, pages, scripts), diurnal traffic, new
             uploads that start popular and fade, rare overwrites and deletes
  backup     nightly write-once full and incremental backups (100 MB - 8 GB), daily
             retention deletes, small catalogs read often, and restore storms that read
             a host's whole backup chain back, sometimes twice
  media      videos watched as sequences of range reads, thumbnails as whole GETs, a
             long-tail popularity and viral spikes that rise in minutes and fade in days
  analytics  daily partitions of parquet files; hourly dashboard scans of recent
             partitions, a daily job over a week, a weekly job over a month; scans HEAD,
             read the footer with a range GET, then read whole files or column ranges
  logs       many services writing gzip chunks every few minutes; a processor reads each
             chunk once soon after; ad-hoc searches over recent hours; retention deletes
  mixed      several tenants of the shapes above sharing one store, scaled down

Usage:
  scripts/gen-traces.py --family web --seed 1 --out web.s1.csv
  scripts/gen-traces.py --all --seeds 1,2,3 --dir traces/      # every family x seed

Python 3.11, standard library only.  Sizes are bytes, times seconds from the trace start.
"""

import argparse
import csv
import heapq
import math
import os
import random
import sys

DAY = 86400.0
HOUR = 3600.0
KB = 1000
MB = 1000 * KB
GB = 1000 * MB
FAMILIES = ('web', 'backup', 'media', 'analytics', 'logs', 'mixed')


# --------------------------------------------------------------------------- helpers

def lognormal_size(rng, median, sigma, lo, hi):
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def diurnal(t, amplitude=0.6, peak_hour=20.0):
    """Relative request intensity at time t (mean 1 over a day)."""
    h = (t % DAY) / HOUR
    return 1.0 + amplitude * math.cos((h - peak_hour) / 24.0 * 2 * math.pi)


def poisson_times(rng, rate_per_s, t0, t1, shape=None, shape_max=1.0):
    """Event times of an inhomogeneous Poisson process (thinning)."""
    out = []
    if rate_per_s <= 0:
        return out
    lam = rate_per_s * shape_max
    t = t0
    while True:
        t += rng.expovariate(lam)
        if t >= t1:
            return out
        if shape is None or rng.random() * shape_max < shape(t):
            out.append(t)


class Zipf:
    """Draw ranks 0..n-1 with P(k) ~ 1/(k+1)^s by inverse CDF."""

    def __init__(self, n, s):
        acc = 0.0
        self.cdf = []
        for k in range(n):
            acc += 1.0 / (k + 1) ** s
            self.cdf.append(acc)
        self.total = acc

    def draw(self, rng):
        import bisect
        return bisect.bisect_left(self.cdf, rng.random() * self.total)


class Events:
    """Collects events; finish() sorts them, makes per-object timestamps unique, drops
    references to objects that do not exist at that time and fills in sizes."""

    def __init__(self):
        self.ev = []
        self.seq = 0

    def add(self, t, op, bucket, key, size=0, range_len=None):
        self.seq += 1
        self.ev.append((t, self.seq, op, bucket, key, size, range_len))

    def put(self, t, bucket, key, size):
        self.add(t, 'PUT', bucket, key, size)

    def get(self, t, bucket, key, range_len=None):
        self.add(t, 'GET', bucket, key, 0, range_len)

    def head(self, t, bucket, key):
        self.add(t, 'HEAD', bucket, key)

    def delete(self, t, bucket, key):
        self.add(t, 'DELETE', bucket, key)

    def finish(self, end):
        ev = [e for e in self.ev if 0.0 <= e[0] <= end]
        ev.sort(key=lambda e: (round(e[0], 3), e[1]))
        live = {}
        last_ts = {}
        rows = []
        prev = 0
        for t, _, op, b, k, size, rl in ev:
            ms = max(int(round(t * 1000)), prev)
            obj = (b, k)
            if last_ts.get(obj, -1) >= ms:
                ms = last_ts[obj] + 1
            if op == 'PUT':
                live[obj] = size
            else:
                cur = live.get(obj)
                if cur is None:
                    continue
                size = cur
                if op == 'DELETE':
                    del live[obj]
                elif op == 'GET' and rl is not None:
                    rl = max(1, min(int(rl), size))
            last_ts[obj] = ms
            prev = ms
            rows.append((ms, op, b, k, size, '' if (op != 'GET' or rl is None) else rl))
        return rows


def write_trace(rows, path):
    with open(path, 'w', encoding='utf-8', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(['ts', 'op', 'bucket', 'key', 'size', 'range_len'])
        for ms, op, b, k, size, rl in rows:
            w.writerow(['%d.%03d' % divmod(ms, 1000), op, b, k, size, rl])


# --------------------------------------------------------------------------- families

def gen_web(rng, ev, scale=1.0, bucket='web', days=None):
    days = days or rng.choice([10, 14, 21])
    end = days * DAY
    n0 = int(rng.randint(2500, 5000) * scale)
    daily_new = int(rng.randint(60, 200) * scale)
    s = rng.uniform(0.8, 1.15)
    kinds = [('img', 60 * KB, 1.2, 2 * KB, 25 * MB, 0.55), ('thumb', 12 * KB, 0.6, 1 * KB, 300 * KB, 0.25),
             ('js', 80 * KB, 0.9, 2 * KB, 3 * MB, 0.08), ('video', 8 * MB, 1.0, 500 * KB, 400 * MB, 0.04),
             ('doc', 400 * KB, 1.3, 5 * KB, 80 * MB, 0.08)]
    objs = []   # (key, size, created, weight)

    def new_obj(t):
        r = rng.random()
        for name, med, sig, lo, hi, p in kinds:
            r -= p
            if r <= 0:
                break
        key = '%s/%06d.%s' % (name, len(objs), {'img': 'jpg', 'thumb': 'webp', 'js': 'js',
                                                 'video': 'mp4', 'doc': 'pdf'}[name])
        size = lognormal_size(rng, med, sig, lo, hi)
        objs.append([key, size, t, 0.0])
        ev.put(t, bucket, key, size)

    for _ in range(n0):
        new_obj(rng.uniform(0, 0.3 * DAY))
    t = 0.3 * DAY
    while t < end:
        t += rng.expovariate(daily_new / DAY)
        new_obj(t)
    objs.sort(key=lambda o: o[2])
    # static popularity: a random permutation of zipf ranks; new content gets a fading boost
    ranks = list(range(len(objs)))
    rng.shuffle(ranks)
    z = Zipf(len(objs), s)
    base_rate = rng.uniform(3000, 7000) * scale / DAY      # requests per second overall
    weights = [1.0 / (ranks[i] + 1) ** s for i in range(len(objs))]
    wsum = sum(weights)
    created = [o[2] for o in objs]
    boost_tau = rng.uniform(0.5, 3.0) * DAY
    del z
    # requests: for each object its own Poisson stream (static share + fading launch boost)
    for i, (key, size, c, _) in enumerate(objs):
        share = weights[i] / wsum
        rate = base_rate * share
        launch = base_rate * 0.002 * rng.paretovariate(1.5) if c > 0.3 * DAY else 0.0
        tt = c + rng.uniform(5, 120)
        # thinning against max intensity
        mx = (rate + launch) * 1.6
        if mx <= 0:
            continue
        while True:
            tt += rng.expovariate(mx)
            if tt >= end:
                break
            inten = (rate + launch * math.exp(-(tt - c) / boost_tau)) * diurnal(tt)
            if rng.random() * mx < inten:
                if rng.random() < 0.05:
                    ev.head(tt, bucket, key)
                elif key.startswith('video') and rng.random() < 0.7:
                    ev.get(tt, bucket, key, rng.choice([256 * KB, 1 * MB, 4 * MB]))
                else:
                    ev.get(tt, bucket, key)
    # overwrites (asset updates) and deletes (takedowns)
    for key, size, c, _ in objs:
        if rng.random() < 0.03:
            ev.put(rng.uniform(c + HOUR, end + DAY), bucket, key, lognormal_size(rng, size, 0.2, 1 * KB, 25 * MB))
        if rng.random() < 0.04:
            ev.delete(rng.uniform(c + HOUR, end + 5 * DAY), bucket, key)
    return end


def gen_backup(rng, ev, scale=1.0, bucket='backup', days=None):
    days = days or rng.choice([30, 35, 42])
    end = days * DAY
    hosts = max(2, int(rng.randint(6, 16) * scale))
    retention = rng.choice([14, 21, 28]) * DAY
    chains = {}   # host -> list of (day, key, kind)
    full_size = {h: lognormal_size(rng, 1.5 * GB, 0.7, 150 * MB, 12 * GB) for h in range(hosts)}
    full_every = {h: rng.choice([7, 7, 14]) for h in range(hosts)}
    for d in range(days):
        for h in range(hosts):
            t = d * DAY + rng.uniform(0.5, 4.5) * HOUR + h * 60
            if d % full_every[h] == h % full_every[h]:
                kind, size = 'full', lognormal_size(rng, full_size[h], 0.1, 50 * MB, 20 * GB)
            else:
                kind, size = 'incr', lognormal_size(rng, full_size[h] * 0.06, 0.8, 1 * MB, 4 * GB)
            key = 'host%02d/%s/%03d.tar.zst' % (h, kind, d)
            # large backups are uploaded in a few volumes
            vols = 1 if size < 2 * GB else int(math.ceil(size / (2 * GB)))
            keys = []
            for v in range(vols):
                k = key if vols == 1 else key.replace('.tar.zst', '.v%d.tar.zst' % v)
                ev.put(t + v * 30, bucket, k, size // vols)
                keys.append(k)
                ev.delete(t + retention + rng.uniform(0, HOUR), bucket, k)
            chains.setdefault(h, []).append((d, keys, kind))
            # the backup tool verifies what it wrote, and updates its small catalog
            for k in keys:
                if rng.random() < 0.5:
                    ev.head(t + 600 + rng.uniform(0, 300), bucket, k)
            cat = 'host%02d/catalog.json' % h
            ev.put(t + 900, bucket, cat, lognormal_size(rng, 200 * KB, 0.5, 5 * KB, 5 * MB))
            # the catalog is read by monitoring several times a day
            for tt in poisson_times(rng, 6 / DAY, t + 1000, min(end, t + DAY)):
                ev.get(tt, bucket, cat)
    # restore storms: a host (or several) restores its latest full + following incrementals
    n_storms = rng.randint(2, 5)
    for _ in range(n_storms):
        ts = rng.uniform(5 * DAY, end - HOUR)
        d_now = int(ts // DAY)
        for h in rng.sample(range(hosts), rng.randint(1, max(1, hosts // 3))):
            back = rng.choice([0, 0, 1, 3, 7])      # sometimes an older point in time
            chain = [c for c in chains[h] if c[0] < d_now - back and c[0] > d_now - retention / DAY + 1]
            if not chain:
                continue
            last_full = max((i for i, c in enumerate(chain) if c[2] == 'full'), default=0)
            t = ts + rng.uniform(0, 600)
            passes = 2 if rng.random() < 0.3 else 1     # verify then restore
            for p in range(passes):
                for d, keys, kind in chain[last_full:]:
                    for k in keys:
                        ev.head(t, bucket, k)
                        t += rng.uniform(1, 5)
                        ev.get(t, bucket, k)
                        t += rng.uniform(20, 200)
                t += rng.uniform(HOUR, 6 * HOUR)
    return end


def gen_media(rng, ev, scale=1.0, bucket='media', days=None):
    days = days or rng.choice([14, 21])
    end = days * DAY
    n_videos = int(rng.randint(300, 800) * scale)
    daily_new = rng.uniform(5, 25) * scale
    vids = []

    def new_video(t):
        i = len(vids)
        size = lognormal_size(rng, 300 * MB, 1.0, 20 * MB, 6 * GB)
        key = 'v/%05d/master.mp4' % i
        thumb = 'v/%05d/thumb.jpg' % i
        ev.put(t, bucket, key, size)
        ev.put(t + 5, bucket, thumb, lognormal_size(rng, 60 * KB, 0.5, 5 * KB, 800 * KB))
        vids.append((key, thumb, size, t))

    for _ in range(n_videos):
        new_video(rng.uniform(0, 0.2 * DAY))
    t = 0.2 * DAY
    while t < end:
        t += rng.expovariate(daily_new / DAY)
        new_video(t)
    s = rng.uniform(0.9, 1.2)
    order = list(range(len(vids)))
    rng.shuffle(order)
    views_per_day = rng.uniform(300, 800) * scale
    weights = [1.0 / (order[i] + 1) ** s for i in range(len(vids))]
    wsum = sum(weights)
    # viral spikes: some videos get a burst that rises quickly and decays over ~a day
    spikes = {}
    for _ in range(rng.randint(4, 12)):
        i = rng.randrange(len(vids))
        t0 = max(vids[i][3] + HOUR, rng.uniform(0, end))
        spikes.setdefault(i, []).append((t0, rng.uniform(60, 400) * scale / HOUR, rng.uniform(3, 18) * HOUR))
    chunk = rng.choice([1 * MB, 2 * MB, 4 * MB])
    for i, (key, thumb, size, c) in enumerate(vids):
        base = views_per_day / DAY * weights[i] / wsum
        sp = spikes.get(i, [])

        def inten(tt):
            v = base * diurnal(tt, 0.5, 21.0)
            for t0, peak, tau in sp:
                if tt >= t0:
                    v += peak * math.exp(-(tt - t0) / tau)
            return v

        mx = base * 1.5 + sum(p for _, p, _ in sp)
        for tt in poisson_times(rng, 1.0, c + 60, end, inten, mx) if mx > 0 else []:
            ev.get(tt, bucket, thumb)
            if rng.random() < 0.35:
                continue                    # saw the thumbnail, did not play
            frac = min(1.0, rng.expovariate(2.5))
            n_chunks = max(1, int(frac * size / chunk))
            tc = tt + rng.uniform(0.5, 3)
            for _ in range(min(n_chunks, 25)):
                ev.get(tc, bucket, key, min(chunk, size))
                tc += rng.uniform(2, 12)
    return end


def gen_analytics(rng, ev, scale=1.0, bucket='lake', days=None):
    days = days or rng.choice([21, 28, 35])
    end = days * DAY
    tables = [('events', 12, 120 * MB), ('orders', 4, 60 * MB), ('metrics', 6, 40 * MB),
              ('clicks', 20, 200 * MB), ('users', 1, 30 * MB)]
    tables = tables[:max(2, int(len(tables) * min(1.0, scale + 0.2)))]
    retention = rng.choice([30, 45, 60]) * DAY
    parts = {}  # (table, day) -> [(key,size)]
    for d in range(days):
        for name, nfiles, med in tables:
            t = d * DAY + rng.uniform(0.2, 1.5) * HOUR
            lst = []
            for p in range(max(1, int(nfiles * scale))):
                key = '%s/dt=%03d/part-%05d.parquet' % (name, d, p)
                size = lognormal_size(rng, med, 0.5, 1 * MB, 2 * GB)
                ev.put(t + p * 7, bucket, key, size)
                ev.delete(t + retention, bucket, key)
                lst.append((key, size))
            parts[(name, d)] = lst

    def scan(t, name, d0, d1, columns):
        for d in range(d0, d1 + 1):
            for key, size in parts.get((name, d), []):
                ev.head(t, bucket, key)
                ev.get(t + 0.2, bucket, key, 64 * KB)              # footer
                if columns >= 1.0:
                    ev.get(t + 0.5, bucket, key)
                else:
                    for c in range(rng.randint(1, 3)):
                        ev.get(t + 0.5 + c, bucket, key, max(1, int(size * columns / 3)))
                t += rng.uniform(0.5, 4)
        return t

    hourly = [n for n, _, _ in tables[:2]]
    for d in range(1, days):
        # hourly dashboards over yesterday and today
        for h in range(24):
            t = d * DAY + h * HOUR + rng.uniform(60, 600)
            for name in hourly:
                scan(t, name, max(0, d - 1), d, 0.3)
        # daily job at 03:00 over the last 7 days of two tables
        t = d * DAY + 3 * HOUR + rng.uniform(0, 900)
        for name, _, _ in tables[:3]:
            t = scan(t, name, max(0, d - 7), d - 1, 1.0)
        # weekly job on day 0 of the week over 30 days
        if d % 7 == 0:
            t = d * DAY + 5 * HOUR
            for name, _, _ in tables:
                t = scan(t, name, max(0, d - 30), d - 1, 0.5 if name != 'users' else 1.0)
        # ad-hoc analyst queries on random older partitions
        for _ in range(rng.randint(0, 6)):
            name = rng.choice(tables)[0]
            d0 = rng.randint(max(0, d - 40), d - 1)
            scan(d * DAY + rng.uniform(9, 18) * HOUR, name, d0, min(d - 1, d0 + rng.randint(0, 3)), 0.4)
    return end


def gen_logs(rng, ev, scale=1.0, bucket='logs', days=None):
    days = days or rng.choice([10, 14, 21])
    end = days * DAY
    services = max(2, int(rng.randint(10, 30) * scale))
    period = rng.choice([300, 600, 900])
    retention = {s: rng.choice([3, 7, 7, 14]) * DAY for s in range(services)}
    volume = {s: lognormal_size(rng, 3 * MB, 1.2, 20 * KB, 200 * MB) for s in range(services)}
    recent = {s: [] for s in range(services)}
    for s in range(services):
        t = rng.uniform(0, period)
        n = 0
        while t < end:
            size = lognormal_size(rng, volume[s] * diurnal(t, 0.5, 14.0), 0.3, 1 * KB, 1 * GB)
            key = 's%02d/%s/%06d.gz' % (s, 'day%02d' % int(t // DAY), n)
            ev.put(t, bucket, key, size)
            # the log processor reads each chunk once, within minutes
            ev.get(t + rng.uniform(20, 400), bucket, key)
            ev.delete(t + retention[s] + rng.uniform(0, HOUR), bucket, key)
            recent[s].append((t, key))
            n += 1
            t += period * rng.uniform(0.9, 1.1)
    # ad-hoc searches: an engineer greps a service's last hours (sometimes days)
    n_search = int(rng.uniform(3, 10) * days * scale)
    for _ in range(n_search):
        s = rng.randrange(services)
        ts = rng.uniform(DAY * 0.5, end)
        span = rng.choice([1, 2, 6, 24, 72]) * HOUR
        lst = [k for (t, k) in recent[s] if ts - span <= t < ts]
        t = ts
        for k in lst:
            ev.get(t, bucket, k)
            t += rng.uniform(0.05, 0.5)
        if rng.random() < 0.3:                        # refined query, same span, soon after
            t = ts + rng.uniform(120, 1800)
            for k in lst:
                ev.get(t, bucket, k)
                t += rng.uniform(0.05, 0.5)
    # a nightly compliance export reads yesterday's chunks of a few services
    for d in range(1, days):
        for s in rng.sample(range(services), max(1, services // 5)):
            t = d * DAY + 2 * HOUR + rng.uniform(0, HOUR)
            for (tp, k) in recent[s]:
                if (d - 1) * DAY <= tp < d * DAY:
                    ev.get(t, bucket, k)
                    t += rng.uniform(0.1, 1.0)
    return end


def gen_mixed(rng, ev, scale=1.0, bucket=None, days=None):
    days = days or rng.choice([14, 21])
    fams = [gen_web, gen_backup, gen_media, gen_analytics, gen_logs]
    picks = rng.sample(fams, rng.randint(3, 5))
    for i, f in enumerate(picks):
        sub = random.Random(rng.random())
        f(sub, ev, scale=rng.uniform(0.25, 0.5), bucket='t%d-%s' % (i, f.__name__[4:]), days=days)
    return days * DAY


GENERATORS = {'web': gen_web, 'backup': gen_backup, 'media': gen_media, 'analytics': gen_analytics,
              'logs': gen_logs, 'mixed': gen_mixed}


def generate(family, seed, scale=1.0):
    rng = random.Random('%s-%d' % (family, seed))
    ev = Events()
    end = GENERATORS[family](rng, ev, scale=scale)
    return ev.finish(end)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--family', choices=FAMILIES)
    ap.add_argument('--all', action='store_true', help='every family')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--seeds', default=None, help='comma-separated seeds (with --all or --family)')
    ap.add_argument('--scale', type=float, default=1.0, help='multiplies object counts and rates')
    ap.add_argument('--out', default=None, help='output file (one family, one seed)')
    ap.add_argument('--dir', default='.', help='output folder for FAMILY.sSEED.csv files')
    a = ap.parse_args(argv)
    fams = FAMILIES if a.all else ([a.family] if a.family else [])
    if not fams:
        ap.error('give --family or --all')
    seeds = [int(s) for s in a.seeds.split(',')] if a.seeds else [a.seed]
    for fam in fams:
        for seed in seeds:
            rows = generate(fam, seed, a.scale)
            path = a.out if (a.out and len(fams) == 1 and len(seeds) == 1) else \
                os.path.join(a.dir, '%s.s%d.csv' % (fam, seed))
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write_trace(rows, path)
            print('%s: %d events' % (path, len(rows)), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
