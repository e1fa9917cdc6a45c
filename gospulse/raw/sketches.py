"""Keyed hashing of member IDs and the sketches built from them (Apache DataSketches).

A member ID is hashed with a secret key before it touches a sketch: plain hashes of VK IDs could
be reversed by hashing the whole ID space, keyed ones cannot without the key. Every region of a
federation uses the same key, so their sketches merge into national counts.

HLL (lg_k 16, relative standard error 1.04/√65536 ≈ 0.41 %) answers "how many unique"; theta
(lg_k 12) answers overlaps (intersections), which HLL cannot. lg_k 16 because a union is no more
precise than its pages' sketches: at lg_k 14 (0.81 %) the worst of a federation's ~900 region and
region × sector scopes missed the 2 % error target (docs/perf-notes/audience.md, audience
unions). HLL_4 holds the same registers as HLL_8 in half the bytes: a big page's sketch is 32 KiB,
twice lg_k 14's.
Sketches of other lg_k or type (stored before) still merge: a union takes the smallest lg_k.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import datasketches as ds

from gospulse.config import settings

HLL_LG_K = 16
HLL_TYPE = ds.tgt_hll_type.HLL_4
THETA_LG_K = 12
SECRET_ENV = "GOSPULSE_AUDIENCE_SECRET"
MIN_SECRET_BYTES = 16


class MissingAudienceSecret(RuntimeError):
    """No (or too short a) hashing secret: sketches must never be built from raw IDs."""


@dataclass(frozen=True)
class MemberHasher:
    """Keyed 64-bit hash of a member ID (BLAKE2b with the deployment's secret as key)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < MIN_SECRET_BYTES:
            raise MissingAudienceSecret(
                f"the audience secret must be at least {MIN_SECRET_BYTES} bytes"
            )

    def __call__(self, member_id: int) -> int:
        digest = hashlib.blake2b(
            member_id.to_bytes(8, "little", signed=True), digest_size=8, key=self.key[:64]
        ).digest()
        return int.from_bytes(digest, "little", signed=True)


def hasher_from_env(value: str | None = None) -> MemberHasher:
    """The hasher keyed by GOSPULSE_AUDIENCE_SECRET (or the given value)."""
    secret = value if value is not None else settings.read(SECRET_ENV)
    if not secret:
        raise MissingAudienceSecret(
            f"set {SECRET_ENV} (the federation-wide secret that keys member hashes)"
        )
    return MemberHasher(secret.encode("utf-8"))


@dataclass(frozen=True)
class Estimate:
    """A distinct-count estimate with bounds at about 95 % confidence (2 standard deviations)."""

    value: float
    lower: float
    upper: float


class PageAudience:
    """The sketches of one page's member list, fed in chunks as the list streams in."""

    def __init__(
        self, hasher: MemberHasher, *, hll_lg_k: int = HLL_LG_K, theta_lg_k: int = THETA_LG_K
    ):
        self._hash = hasher
        self.hll = ds.hll_sketch(hll_lg_k, HLL_TYPE)
        self.theta = ds.update_theta_sketch(theta_lg_k)
        self.members_read = 0

    def add(self, member_ids: Iterable[int]) -> None:
        hll, theta, key = self.hll, self.theta, self._hash
        n = 0
        for member_id in member_ids:
            h = key(member_id)
            hll.update(h)
            theta.update(h)
            n += 1
        self.members_read += n

    def hll_bytes(self) -> bytes:
        return bytes(self.hll.serialize_compact())

    def theta_bytes(self) -> bytes:
        return bytes(self.theta.compact().serialize())


class MemberAttributes:
    """What one page's member list says about its members, counted, never kept per person:
    how many accounts VK deactivated (and their keyed hashes in a theta sketch, so that a later
    read can tell which of its new members were deactivated since), and how many show a city
    of the page's region (per city), another city, or none."""

    def __init__(
        self, hasher: MemberHasher, home_cities: frozenset[int], *, theta_lg_k: int = THETA_LG_K
    ):
        self._hash = hasher
        self.home_cities = home_cities
        self.deactivated_theta = ds.update_theta_sketch(theta_lg_k)
        self.deactivated = 0
        self.by_city: dict[int, int] = {}
        self.elsewhere = 0
        self.city_unknown = 0

    def add(self, member_id: int, deactivated: bool, city_id: int | None) -> None:
        if deactivated:
            self.deactivated += 1
            self.deactivated_theta.update(self._hash(member_id))
        if city_id is None:
            self.city_unknown += 1
        elif city_id in self.home_cities:
            self.by_city[city_id] = self.by_city.get(city_id, 0) + 1
        else:
            self.elsewhere += 1

    @property
    def in_region(self) -> int:
        return sum(self.by_city.values())

    def deactivated_theta_bytes(self) -> bytes:
        return bytes(self.deactivated_theta.compact().serialize())


def hll_from_bytes(blob: bytes) -> ds.hll_sketch:
    return ds.hll_sketch.deserialize(blob)


def theta_from_bytes(blob: bytes) -> ds.compact_theta_sketch:
    return ds.compact_theta_sketch.deserialize(blob)


def merge_hll(union: ds.hll_union, sketch: ds.hll_sketch) -> None:
    """`union.update(sketch)`, safe when the two differ in lg_k.

    datasketches 5.2.0 (the newest on PyPI) defers rebuilding a union's estimator state after a
    merge that downsamples registers (a sketch of smaller lg_k reaching a union of larger, or the
    reverse); until the estimate is read, the union looks empty and the next update overwrites it.
    A region of lg_k 16 pages, then an older lg_k 14 page, then a small one came out as the small
    page alone. Upstream fixed it after 5.2.0 (apache/datasketches-cpp#512); reading the
    estimate runs the deferred rebuild, and costs one pass over the registers only on such merges.
    """
    lg_k = union.lg_config_k
    union.update(sketch)
    if sketch.lg_config_k != lg_k or union.lg_config_k != lg_k:
        union.get_estimate()


def union_hll(blobs: Iterable[bytes], lg_k: int = HLL_LG_K) -> ds.hll_sketch:
    """The union of serialized HLL sketches (an empty union estimates 0)."""
    union = ds.hll_union(lg_k)
    for blob in blobs:
        merge_hll(union, hll_from_bytes(blob))
    return union.get_result(HLL_TYPE)


def union_theta(blobs: Iterable[bytes], lg_k: int = THETA_LG_K) -> ds.compact_theta_sketch:
    union = ds.theta_union(lg_k)
    for blob in blobs:
        union.update(theta_from_bytes(blob))
    return union.get_result()


def intersect_theta(
    a: bytes | ds.theta_sketch, b: bytes | ds.theta_sketch
) -> ds.compact_theta_sketch:
    """Members in both a and b."""
    inter = ds.theta_intersection()
    for s in (a, b):
        inter.update(theta_from_bytes(s) if isinstance(s, bytes | bytearray) else s)
    return inter.get_result()


def estimate(sketch: ds.hll_sketch | ds.theta_sketch, std_devs: int = 2) -> Estimate:
    return Estimate(
        sketch.get_estimate(), sketch.get_lower_bound(std_devs), sketch.get_upper_bound(std_devs)
    )
