"""Benchmark: error of unique-audience estimates at our lg_k against exact counts.

People are split into overlapping "pages" (each person follows 2.5 of them on average, as in
the federal 115 M / 46 M figure); every page gets its own HLL sketch of the people's keyed
hashes (the pipeline's hasher and sketch settings), and the union of all page sketches is
compared with the exact number of people. 1 M and 46 M people by default; 46 M takes several
minutes on one core (each id is hashed once in Python, each subscription fed once).

    .venv/bin/python bench/bench_sketch_error.py [--people 1000000 46000000] [--pages 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import datasketches as ds
import numpy as np

from gospulse.raw.sketches import HLL_LG_K, HLL_TYPE, MemberHasher, estimate, union_hll

FOLLOWS_PER_PERSON = 2.5


def run(people: int, pages: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    # a different key per repeat: with one key the same people always hash the same way
    hasher = MemberHasher(f"benchmark-secret-key-{seed:04d}".encode())
    started = time.perf_counter()
    member_ids = 100_000_000 + np.arange(people, dtype=np.int64) * 7  # VK-like, all distinct
    hashes = np.fromiter((hasher(int(i)) for i in member_ids), dtype=np.int64, count=people)
    hashing = time.perf_counter() - started
    # each person follows 1 to 4 pages (2.5 on average); page popularity is heavy-tailed
    follows = 1 + (rng.random((people, 3)) < 0.5).sum(axis=1)
    person = np.repeat(np.arange(people, dtype=np.int64), follows)
    weights = 1.0 / (np.arange(pages) + 1) ** 0.8
    page = rng.choice(pages, size=person.size, p=weights / weights.sum())
    pairs = np.unique(person * pages + page)  # a person follows a page once
    person, page = pairs // pages, pairs % pages
    order = np.argsort(page, kind="stable")
    person, page = person[order], page[order]
    bounds = np.searchsorted(page, np.arange(pages + 1))
    t0 = time.perf_counter()
    blobs = []
    for p in range(pages):
        sketch = ds.hll_sketch(HLL_LG_K, HLL_TYPE)
        for h in hashes[person[bounds[p] : bounds[p + 1]]].tolist():
            sketch.update(h)
        blobs.append(bytes(sketch.serialize_compact()))
    feed = time.perf_counter() - t0
    t0 = time.perf_counter()
    union = union_hll(blobs)
    merge = time.perf_counter() - t0
    est = estimate(union)
    return {
        "people": people,
        "subscriptions": int(pairs.size),
        "estimate": est.value,
        "lower": est.lower,
        "upper": est.upper,
        "error": (est.value - people) / people,
        "within_bounds": est.lower <= people <= est.upper,
        "hash_s": hashing,
        "feed_s": feed,
        "merge_s": merge,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[1_000_000, 46_000_000])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3, help="repeats per size (median error)")
    args = parser.parse_args()
    print(
        f"HLL lg_k={HLL_LG_K} (relative standard error ≈ {1.04 / 2 ** (HLL_LG_K / 2):.2%}), "
        f"{args.pages} pages, {FOLLOWS_PER_PERSON} follows per person on average"
    )
    for people in args.people:
        seeds = args.seeds if people <= 5_000_000 else 1
        results = [run(people, args.pages, seed) for seed in range(seeds)]
        errors = [abs(r["error"]) for r in results]
        r = results[0]
        print(
            f"{people:>11,} people, {r['subscriptions']:>11,} subscriptions: "
            f"|error| median {statistics.median(errors):.3%} (runs: "
            + ", ".join(f"{e:+.3%}" for e in (x["error"] for x in results))
            + f"), exact inside the 95% bounds: {all(x['within_bounds'] for x in results)}; "
            f"hashing {r['hash_s']:.0f} s, sketching {r['feed_s']:.0f} s, "
            f"merging {args.pages} sketches {r['merge_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
