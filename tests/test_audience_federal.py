"""The federal merge: region union sketches round-trip as bytes and merge into a national count."""

from __future__ import annotations

import struct
from datetime import date
from itertools import permutations

import datasketches as ds
import pytest

from gospulse.audience.federal import (
    BadSketchBundle,
    RegionSketch,
    is_region_sketch,
    national_unique,
)
from gospulse.raw.sketches import (
    HLL_LG_K,
    MemberHasher,
    PageAudience,
    estimate,
    union_hll,
)

HASHER = MemberHasher(b"test-secret-key-16b")
DAY = date(2025, 3, 10)

# three regions whose people overlap: pages inside a region overlap too
REGION_PAGES = {
    42: [range(0, 30_000), range(25_000, 40_000)],
    54: [range(35_000, 70_000)],
    22: [range(60_000, 65_000), range(100_000, 120_000), range(0, 1_000)],
}


def region_sketch(region_code: int, network: str = "vk", day: date = DAY) -> RegionSketch:
    blobs = []
    for members in REGION_PAGES[region_code]:
        page = PageAudience(HASHER)
        page.add(members)
        blobs.append(page.hll_bytes())
    union = union_hll(blobs)
    return RegionSketch(
        region_code, network, day, union.lg_config_k, bytes(union.serialize_compact())
    )


@pytest.fixture(scope="module")
def regions() -> list[RegionSketch]:
    return [region_sketch(code) for code in REGION_PAGES]


def exact_union(*codes: int) -> int:
    return len({i for code in codes for members in REGION_PAGES[code] for i in members})


def test_region_sketch_round_trips(regions):
    for region in regions:
        data = region.to_bytes()
        assert is_region_sketch(data) and not is_region_sketch(region.sketch)
        again = RegionSketch.from_bytes(data)
        assert again == region
        assert again.to_bytes() == data
        assert again.estimate() == region.estimate()
        assert again.lg_k == HLL_LG_K


def test_each_region_is_within_bounds_of_its_exact_union(regions):
    for region in regions:
        unique = region.estimate()
        assert unique.lower <= exact_union(region.region_code) <= unique.upper


def test_national_unique_merges_overlapping_regions(regions):
    exact = exact_union(*REGION_PAGES)
    assert exact == 90_000
    national = national_unique(r.to_bytes() for r in regions)
    assert national.lower <= exact <= national.upper
    assert national.value == pytest.approx(exact, rel=0.02)
    # people in two regions count once: the merge is well below the sum of the regions
    assert sum(r.estimate().value for r in regions) > 1.05 * national.value
    # bundles, objects and bare HLL sketches merge alike, in any order
    assert national_unique(regions) == national
    assert national_unique(r.sketch for r in reversed(regions)) == national


def test_a_region_of_an_older_bundle_merges_at_its_lower_precision(regions):
    """Bundles written before page sketches went to lg_k 16 carry HLL_8 at lg_k 14."""
    union = ds.hll_union(14)
    for members in REGION_PAGES[22]:
        page = ds.hll_sketch(14, ds.tgt_hll_type.HLL_8)
        for member in members:
            page.update(HASHER(member))
        union.update(page)
    old = union.get_result(ds.tgt_hll_type.HLL_8)
    older = RegionSketch(22, "vk", DAY, old.lg_config_k, bytes(old.serialize_compact()))
    assert RegionSketch.from_bytes(older.to_bytes()).lg_k == 14 < HLL_LG_K
    national = national_unique([*(r for r in regions if r.region_code != 22), older])
    assert national.lower <= exact_union(*REGION_PAGES) <= national.upper
    # the bounds are those of lg_k 14: about twice as wide as the new regions' own
    newer = national_unique(regions)
    assert (national.upper - national.lower) > 1.5 * (newer.upper - newer.lower)


def hll_bytes(members: range, lg_k: int, kind: ds.tgt_hll_type) -> bytes:
    sketch = ds.hll_sketch(lg_k, kind)
    for member in members:
        sketch.update(HASHER(member))
    return bytes(sketch.serialize_compact())


# a page sketched at lg_k 16 (HLL mode), an older lg_k 14 one (HLL mode) and a small older one
# (coupon mode): datasketches 5.2.0's union lost the first two when they came in this order
MIXED_PAGES = (
    (range(0, 10_000), 16, ds.tgt_hll_type.HLL_4),
    (range(50_000, 53_000), 14, ds.tgt_hll_type.HLL_8),
    (range(60_000, 60_200), 14, ds.tgt_hll_type.HLL_8),
)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_pages_of_mixed_lg_k_union_whole_in_any_order(order):
    blobs = [hll_bytes(*MIXED_PAGES[i]) for i in order]
    union = estimate(union_hll(blobs))
    assert union.lower <= 13_200 <= union.upper
    assert union.value == pytest.approx(13_200, rel=0.03)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_regions_of_mixed_lg_k_merge_whole_in_any_order(order):
    regions = [
        RegionSketch(code, "vk", DAY, lg_k, hll_bytes(members, lg_k, kind))
        for code, (members, lg_k, kind) in zip((42, 54, 22), MIXED_PAGES, strict=True)
    ]
    national = national_unique(regions[i].to_bytes() for i in order)
    assert national.lower <= 13_200 <= national.upper
    assert national.value == pytest.approx(13_200, rel=0.03)


def test_national_unique_of_nothing_is_zero():
    assert national_unique([]) == estimate(union_hll([]))
    assert national_unique([]).value == 0


def test_merging_different_networks_or_dates_is_refused(regions):
    other_network = region_sketch(22, network="ok")
    with pytest.raises(BadSketchBundle, match="ok 2025-03-10, vk 2025-03-10"):
        national_unique([*regions[:2], other_network])
    with pytest.raises(BadSketchBundle, match="different networks or dates"):
        national_unique([regions[0].to_bytes(), region_sketch(54, day=date(2025, 3, 9)).to_bytes()])


def test_bad_bytes_are_refused_with_a_reason(regions):
    data = regions[0].to_bytes()
    with pytest.raises(BadSketchBundle, match="bad magic"):
        RegionSketch.from_bytes(b"nonsense")
    with pytest.raises(BadSketchBundle, match="format 9"):
        RegionSketch.from_bytes(b"GPHL" + struct.pack(">BI", 9, 0))
    with pytest.raises(BadSketchBundle, match="region 42 vk 2025-03-10: sketch unreadable"):
        RegionSketch.from_bytes(data[:-16_000])
    with pytest.raises(BadSketchBundle, match="not an HLL sketch"):
        national_unique([b"\x00\x01\x02"])
