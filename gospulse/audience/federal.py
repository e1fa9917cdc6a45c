"""Regional union sketches out, national unique counts in: the federal merge of audiences.

A region exports one HLL sketch per (audience date, network) — the union of its pages' keyed
member hashes, no IDs — and the federal level merges many regions into a national unique count.
Every region must hash with the same federation-wide secret, or the merge counts nothing twice
that should be. The transport of the bundles is not here.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import datasketches as ds

from gospulse.raw.sketches import (
    HLL_LG_K,
    HLL_TYPE,
    Estimate,
    estimate,
    hll_from_bytes,
    merge_hll,
)
from gospulse.raw.warehouse import connect

MAGIC = b"GPHL"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBI")  # magic, format version, length of the JSON metadata


class BadSketchBundle(ValueError):
    """Bytes that are not a region sketch, or sketches that cannot be merged together."""


@dataclass(frozen=True)
class RegionSketch:
    """The union HLL sketch of one region's pages on one audience date and network."""

    region_code: int
    network: str
    audience_date: date
    lg_k: int
    sketch: bytes

    def to_bytes(self) -> bytes:
        """Self-describing bytes: a small header with the metadata, then the HLL sketch."""
        meta = json.dumps(
            {
                "region_code": self.region_code,
                "network": self.network,
                "audience_date": self.audience_date.isoformat(),
                "lg_k": self.lg_k,
            },
            sort_keys=True,
        ).encode("utf-8")
        return _HEADER.pack(MAGIC, FORMAT_VERSION, len(meta)) + meta + self.sketch

    @classmethod
    def from_bytes(cls, data: bytes) -> RegionSketch:
        """Inverse of to_bytes; BadSketchBundle when the bytes are not a region sketch."""
        if not is_region_sketch(data):
            raise BadSketchBundle("not a gospulse region sketch (bad magic)")
        _, version, meta_len = _HEADER.unpack_from(data)
        if version != FORMAT_VERSION:
            raise BadSketchBundle(f"region sketch format {version}, expected {FORMAT_VERSION}")
        start = _HEADER.size
        try:
            meta = json.loads(data[start : start + meta_len].decode("utf-8"))
            sketch = cls(
                region_code=int(meta["region_code"]),
                network=str(meta["network"]),
                audience_date=date.fromisoformat(meta["audience_date"]),
                lg_k=int(meta["lg_k"]),
                sketch=bytes(data[start + meta_len :]),
            )
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise BadSketchBundle(f"region sketch metadata unreadable: {exc}") from exc
        sketch.hll()  # fail here, not in the merge, on a truncated sketch
        return sketch

    def hll(self) -> ds.hll_sketch:
        """The deserialized HLL sketch."""
        try:
            return hll_from_bytes(self.sketch)
        except Exception as exc:  # datasketches raises plain RuntimeError/ValueError
            raise BadSketchBundle(
                f"region {self.region_code} {self.network} {self.audience_date}: "
                f"sketch unreadable ({exc})"
            ) from exc

    def estimate(self) -> Estimate:
        """The region's unique audience."""
        return estimate(self.hll())


def is_region_sketch(data: bytes) -> bool:
    """True for RegionSketch.to_bytes() output (a bare HLL sketch never starts with MAGIC)."""
    return len(data) >= _HEADER.size and data[:4] == MAGIC


def export_region_sketches(
    warehouse: Path | None = None,
    *,
    audience_date: date | None = None,
    region_code: int | None = None,
    network: str | None = None,
) -> list[RegionSketch]:
    """Region union sketches from marts.mart_audience_region_sketches, read-only.

    Without audience_date, the latest audience date in the mart. Sorted by region and network.
    """
    with connect(warehouse, read_only=True) as con:
        if audience_date is None:
            row = con.execute(
                "select max(audience_date) from marts.mart_audience_region_sketches"
            ).fetchone()
            assert row is not None
            (audience_date,) = row
            if audience_date is None:
                return []
        rows = con.execute(
            """
            select region_code, network, audience_date, hll_lg_k, union_hll_sketch
            from marts.mart_audience_region_sketches
            where audience_date = ?
              and (cast(? as integer) is null or region_code = ?)
              and (cast(? as varchar) is null or network = ?)
            order by region_code, network
            """,
            [audience_date, region_code, region_code, network, network],
        ).fetchall()
    return [
        RegionSketch(
            region_code=code, network=net, audience_date=day, lg_k=lg_k, sketch=bytes(blob)
        )
        for code, net, day, lg_k, blob in rows
    ]


def national_unique(sketches: Iterable[bytes | RegionSketch]) -> Estimate:
    """Merge many regions' HLL sketches into one unique count with ~95 % bounds.

    Accepts RegionSketch objects, their to_bytes() form, or bare serialized HLL sketches.
    Region sketches must share network and audience date. An empty input estimates 0.
    """
    hlls: list[ds.hll_sketch] = []
    seen: set[tuple[str, date]] = set()
    for item in sketches:
        if isinstance(item, RegionSketch) or is_region_sketch(item):
            region = item if isinstance(item, RegionSketch) else RegionSketch.from_bytes(item)
            seen.add((region.network, region.audience_date))
            hlls.append(region.hll())
        else:
            try:
                hlls.append(hll_from_bytes(bytes(item)))
            except Exception as exc:
                raise BadSketchBundle(f"not an HLL sketch ({exc})") from exc
    if len(seen) > 1:
        found = ", ".join(f"{net} {day}" for net, day in sorted(seen))
        raise BadSketchBundle(f"region sketches of different networks or dates: {found}")
    union = ds.hll_union(max((h.lg_config_k for h in hlls), default=HLL_LG_K))
    for hll in hlls:
        merge_hll(union, hll)
    return estimate(union.get_result(HLL_TYPE))
