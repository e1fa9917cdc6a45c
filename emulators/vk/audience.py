"""A synthetic population behind the world's pages: who follows which page, computed on demand.

People live in municipal pools laid end to end over person indexes 0..size-1. Each page orders
its candidate people by a keyed pseudo-random permutation; its members on a date are the first
members_count of that order, so growth adds people and drops remove the latest joiners. Municipal
pages take about 13 of every 16 members from their municipality, regional pages draw from all.
Pool sizes are calibrated so that subscriptions / unique people is about TARGET_DUPLICATION.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from emulators.vk.kuzbass import MUNICIPALITIES

if TYPE_CHECKING:
    from emulators.vk.world import Page

# Federal figure: 115 M subscriptions to government pages, ~46 M unique people.
TARGET_DUPLICATION = 2.5
HIDDEN_SHARE = 0.03  # pages whose owners hide the member list
LOCAL_SLOTS, BLOCK = 13, 16  # a municipal page's members: 13 of each 16 are local people
# User ids sit above the world's group ids (1e8..2.3e8) so a mix-up of the two shows in tests.
USER_ID_BASE, USER_ID_TOP = 250_000_000, 1_000_000_000
GROWTH_ROOM = 1.5  # the population is at least this many times the largest page

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _key(*parts: object) -> int:
    """A 64-bit key hashed from the parts (stable across runs and platforms)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a cheap, well-avalanching 64-bit hash (wraps mod 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class Permutation:
    """A keyed pseudo-random permutation of range(n): 4-round Feistel with cycle walking.

    The key is one int, or a uint64 array with a key per element (many permutations at once)."""

    def __init__(self, n: int, key: int | np.uint64 | np.ndarray):
        if n < 1:
            raise ValueError(f"cannot permute an empty range (n={n})")
        self.n = n
        bits = max(2, (n - 1).bit_length())  # domain < 2n, so cycle walking rarely repeats
        self._hi, self._lo = bits // 2, bits - bits // 2
        key = np.asarray(key, dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):
            self._keys = [_mix(np.uint64(r) * key) for r in range(1, 5)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Images of x (int64, each in range(n)) as int64."""
        y = self._encrypt(x.astype(np.uint64), self._keys)
        walk = np.flatnonzero(y >= self.n)
        while walk.size:  # re-encrypt what fell outside range(n) until it lands inside
            keys = [k if k.ndim == 0 else k[walk] for k in self._keys]
            y[walk] = self._encrypt(y[walk], keys)
            walk = walk[y[walk] >= self.n]
        return y.astype(np.int64)

    def _encrypt(self, x: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
        # Unbalanced halves swap widths each round; after an even number they are back.
        a, b = self._hi, self._lo
        hi, lo = x >> np.uint64(b), x & np.uint64((1 << b) - 1)
        with np.errstate(over="ignore"):
            for k in keys:
                hi, lo = lo, hi ^ (_mix(lo ^ k) >> np.uint64(64 - a))
                a, b = b, a
        return (hi << np.uint64(b)) | lo


class Audience:
    """The population: municipal pools, each page's member order, hidden lists, user ids."""

    def __init__(
        self,
        seed: int,
        pages: Sequence[Page],
        *,
        duplication: float = TARGET_DUPLICATION,
        protected: Iterable[int] = (),
    ):
        self.seed = seed
        names = [m.name for m in MUNICIPALITIES]
        sizes = _calibrate(pages, names, duplication)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        self.size = int(offsets[-1])
        self.pools: dict[str, tuple[int, int]] = {
            name: (int(offsets[i]), int(sizes[i])) for i, name in enumerate(names)
        }
        self._pool_starts = offsets[:-1]
        self._pool_names = names
        self._stride = (USER_ID_TOP - USER_ID_BASE) // self.size
        if self._stride < 2:
            raise ValueError(f"{self.size:,} people do not fit the user id space")
        keep = set(protected)
        self.hidden: frozenset[int] = frozenset(
            p.id
            for p in pages
            if p.id not in keep and _key(seed, "hidden", p.id) / 2**64 < HIDDEN_SHARE
        )

    def persons(self, page: Page, stop: int, start: int = 0) -> np.ndarray:
        """Person indexes of the page's members number start..stop-1 in join order."""
        self._check_fits(page, stop)
        k = np.arange(start, max(start, stop), dtype=np.int64)
        return self._persons(page.municipality, k, np.uint64(self._page_key(page)))

    def persons_of(self, pages: Iterable[tuple[Page, int]]) -> np.ndarray:
        """Person indexes of the first `count` members of each (page, count), concatenated.

        Same people as persons() page by page, computed per pool in one go (region-wide
        ground truth would otherwise pay numpy's per-call overhead thousands of times)."""
        groups: dict[str, list[tuple[int, int]]] = {}
        for page, count in pages:
            self._check_fits(page, count)
            groups.setdefault(page.municipality, []).append((self._page_key(page), count))
        parts = [np.empty(0, dtype=np.int64)]
        for pool, members in groups.items():
            counts = np.array([c for _, c in members], dtype=np.int64)
            keys = np.array([k for k, _ in members], dtype=np.uint64)
            k = np.arange(counts.sum(), dtype=np.int64) - np.repeat(
                np.cumsum(counts) - counts, counts
            )
            parts.append(self._persons(pool, k, np.repeat(keys, counts)))
        return np.concatenate(parts)

    def _page_key(self, page: Page) -> int:
        return _key(self.seed, "members", page.id)

    def _check_fits(self, page: Page, count: int) -> None:
        if count > self.size:
            raise ValueError(f"page {page.id}: {count:,} members exceed {self.size:,} people")

    def _persons(self, municipality: str, k: np.ndarray, key: np.uint64 | np.ndarray) -> np.ndarray:
        if municipality not in self.pools:  # regional body: the whole region
            return Permutation(self.size, key)(k)
        offset, size = self.pools[municipality]
        local, index = _interleave(k, size)
        out = np.empty_like(k)
        out[local] = offset + Permutation(size, _pick(key, local))(index[local])
        if not local.all():
            # people outside the municipality: skip over its own range of indexes
            outside = _pick(key, ~local) ^ np.uint64(0x5DEECE66D)
            other = Permutation(self.size - size, outside)(index[~local])
            out[~local] = other + size * (other >= offset)
        return out

    def user_ids(self, persons: np.ndarray) -> np.ndarray:
        """VK-like user ids for person indexes: increasing with the index, spread with jitter."""
        persons = np.asarray(persons, dtype=np.int64)
        with np.errstate(over="ignore"):
            jitter = _mix(persons.astype(np.uint64) ^ np.uint64(_key(self.seed, "uid")))
        jitter = (jitter % np.uint64(self._stride)).astype(np.int64)
        return USER_ID_BASE + persons * self._stride + jitter

    def person_of(self, user_ids: np.ndarray) -> np.ndarray:
        """Person indexes of user ids made by user_ids()."""
        return (np.asarray(user_ids, dtype=np.int64) - USER_ID_BASE) // self._stride

    def pool_index(self, persons: np.ndarray) -> np.ndarray:
        """The index (in MUNICIPALITIES) of the pool each person belongs to."""
        return np.searchsorted(self._pool_starts, np.asarray(persons), "right") - 1

    def home(self, user_id: int) -> str:
        """The municipality a user lives in."""
        person = int(self.person_of(np.array([user_id]))[0])
        if not 0 <= person < self.size:
            raise ValueError(f"{user_id} is not a user of this world")
        return self._pool_names[int(np.searchsorted(self._pool_starts, person, "right")) - 1]


def _pick(key: np.uint64 | np.ndarray, mask: np.ndarray) -> np.uint64 | np.ndarray:
    """The keys of the masked elements: a single key stays as it is."""
    if isinstance(key, np.ndarray) and key.ndim > 0:
        return key[mask]
    return key


def _interleave(k: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Split member numbers k into local (mask) and outside people with their pool indexes.

    Blocks of BLOCK members hold LOCAL_SLOTS locals; once the local pool is used up the rest
    come from outside. A bijection from range(total) onto local + outside indexes.
    """
    outside = BLOCK - LOCAL_SLOTS
    blocks = size // LOCAL_SLOTS
    edge = blocks * BLOCK
    q, r = np.divmod(k, BLOCK)
    local = r < LOCAL_SLOTS
    index = np.where(local, q * LOCAL_SLOTS + r, q * outside + r - LOCAL_SLOTS)
    tail = k >= edge
    if tail.any():
        j = k[tail] - edge
        left = size - blocks * LOCAL_SLOTS  # locals not yet used by the full blocks
        local[tail] = j < left
        index[tail] = np.where(j < left, blocks * LOCAL_SLOTS + j, blocks * outside + j - left)
    return local, index


def _calibrate(pages: Sequence[Page], names: list[str], duplication: float) -> np.ndarray:
    """Pool sizes per municipality so that subscriptions / expected unique ≈ duplication.

    A pool's weight is its local subscriptions plus a population share of the regional ones;
    sizes are weight × c, with c found by bisection on the expected number of unique people
    (each page a draw without replacement, pages independent). Uses base_members (seed-only).
    """
    n = len(names)
    where = {name: i for i, name in enumerate(names)}
    population = np.array([m.population for m in MUNICIPALITIES], dtype=float)
    share = LOCAL_SLOTS / BLOCK
    muni = [(where[p.municipality], p.base_members) for p in pages if p.municipality in where]
    regional = np.array([p.base_members for p in pages if p.municipality not in where], float)
    pool_of = np.array([i for i, _ in muni], dtype=int)
    counts = np.array([c for _, c in muni], dtype=float)
    local_load = np.bincount(pool_of, counts * share, minlength=n)
    weight = local_load + regional.sum() * population / population.sum()
    total = counts.sum() + regional.sum()

    def expected_unique(c: float) -> float:
        sizes = np.maximum(1.0, weight * c)
        everyone = sizes.sum()
        # log of the chance that one person of each pool misses every page
        miss = np.zeros(n)
        local_p = np.minimum(counts * share / sizes[pool_of], 1 - 1e-12)
        np.add.at(miss, pool_of, np.log1p(-local_p))
        out_p = np.minimum(counts * (1 - share) / (everyone - sizes[pool_of]), 1 - 1e-12)
        out_log = np.log1p(-out_p)
        miss += out_log.sum() - np.bincount(pool_of, out_log, minlength=n)
        miss += np.log1p(-np.minimum(regional / everyone, 1 - 1e-12)).sum()
        return float((sizes * -np.expm1(miss)).sum())

    goal = total / duplication
    low, high = 1e-3, 1e3
    for _ in range(80):  # the expected unique grows with c
        mid = math.sqrt(low * high)
        low, high = (mid, high) if expected_unique(mid) < goal else (low, mid)
    # Every page must fit the population with room to grow; in tiny worlds (one big regional
    # page, few others) this wins over the duplication target.
    largest = max((p.base_members for p in pages), default=1)
    high = max(high, GROWTH_ROOM * largest / weight.sum())
    return np.maximum(1, np.round(weight * high)).astype(np.int64)
