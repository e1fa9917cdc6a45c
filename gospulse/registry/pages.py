"""The page registry: one table per region (CSV or XLSX, as offices save them), validated row
by row.

A bad row gets an error naming its line and reason; the good rows proceed. References are
normalised to (ref_kind, ref_value): 'id' for a stable numeric id, 'screen_name' for a name that
the extractor resolves to an id once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gospulse.config.regions import REGIONS, BadOktmo, normalize_oktmo
from gospulse.registry.office_files import (
    MAX_FIELD_BYTES,
    XLSX_SUFFIXES,
    TableFileError,
    canonical_header,
    read_rows,
)

HEADER = (
    "network",
    "page_ref",
    "title",
    "organization",
    "region_code",
    "municipality",
    "sector",
    "flagship",
)
# the column names offices write, each beside its canonical name
ALIASES = {
    "network": ("сеть", "соцсеть", "социальная сеть"),
    "page_ref": ("ссылка", "адрес", "страница", "ссылка на страницу"),
    "title": ("название", "наименование"),
    "organization": ("организация", "учреждение"),
    "region_code": ("код региона", "регион"),
    "municipality": ("муниципалитет", "муниципальное образование", "мо"),
    "sector": ("сфера", "отрасль"),
    "flagship": ("флагман", "флагманская"),
    # optional: the page's territory, when the office knows its code
    "oktmo": ("октмо", "код октмо"),
}
NETWORKS = ("vk", "tg", "ok")
SECTORS = (
    "health",
    "education",
    "social protection",
    "sport",
    "culture",
    "youth policy",
    "transport",
    "government",
    "other",
)
# the Russian names offices use for the sectors, each to its canonical name
SECTOR_ALIASES = {
    "здравоохранение": "health",
    "образование": "education",
    "социальная защита": "social protection",
    "соцзащита": "social protection",
    "социальная политика": "social protection",
    "спорт": "sport",
    "физическая культура и спорт": "sport",
    "культура": "culture",
    "молодежная политика": "youth policy",
    "молодёжная политика": "youth policy",
    "транспорт": "transport",
    "органы власти": "government",
    "государственное управление": "government",
    "прочее": "other",
    "другое": "other",
}


# how offices name the networks, each to its code
NETWORK_ALIASES = {
    "вк": "vk",
    "вконтакте": "vk",
    "vkontakte": "vk",
    "vk.com": "vk",
    "telegram": "tg",
    "телеграм": "tg",
    "телеграмм": "tg",
    "тг": "tg",
    "odnoklassniki": "ok",
    "одноклассники": "ok",
    "ок": "ok",
    "ok.ru": "ok",
}


def normalize_network(text: str) -> str:
    """A network as written (any case, a Russian name) as its code; text that names no network
    comes back normalized, for the caller to refuse."""
    network = " ".join(text.strip().lower().split())
    return NETWORK_ALIASES.get(network, network)


def normalize_sector(text: str) -> str:
    """A sector as written (any case, `_` for spaces, a Russian name) in its canonical form;
    text that names no sector comes back normalized, for the caller to refuse."""
    sector = " ".join(text.strip().lower().replace("_", " ").split())
    return SECTOR_ALIASES.get(sector.replace("ё", "е"), SECTOR_ALIASES.get(sector, sector))


_TRUE = {"true", "1", "yes", "да"}
_FALSE = {"false", "0", "no", "нет", ""}

_VK_HOSTS = {"vk.com", "vk.ru", "m.vk.com", "m.vk.ru", "www.vk.com", "www.vk.ru"}
_TG_HOSTS = {"t.me", "telegram.me", "www.t.me"}
_OK_HOSTS = {"ok.ru", "m.ok.ru", "www.ok.ru", "odnoklassniki.ru"}
_VK_ID = re.compile(r"^(?:club|public|event)?-?(\d{1,12})$")
# VK reserves these prefixes for generated addresses; "club12a" is neither an id nor a name
_VK_RESERVED = re.compile(r"^(?:club|public|event|id)\d")
_VK_NAME = re.compile(r"^[a-z0-9_.]{2,64}$")
_TG_NAME = re.compile(r"^[a-z][a-z0-9_]{3,31}$")
_OK_NAME = re.compile(r"^[a-z0-9_.-]{2,64}$")


class RegistryFileError(TableFileError):
    """The file as a whole cannot be read as a registry (missing, wrong header, not UTF-8)."""


class BadReference(ValueError):
    """A page reference that is not an id, screen name or page URL of its network."""


@dataclass(frozen=True)
class PageRef:
    """A normalised reference: ('id', '123') or ('screen_name', 'kuzbass_health')."""

    kind: str
    value: str


@dataclass(frozen=True)
class RegistryPage:
    """One valid registry row."""

    network: str
    registry_ref: str
    ref: PageRef
    title: str
    organization: str | None
    region_code: int
    municipality: str | None
    sector: str
    is_flagship: bool
    source_file: str
    source_line: int
    oktmo: str | None = None


@dataclass(frozen=True)
class RowError:
    """Why one registry row was rejected."""

    line: int
    reason: str
    row: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ValidationResult:
    """Valid pages and rejected rows of one registry file."""

    path: Path
    pages: list[RegistryPage]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


def _path_part(ref: str, hosts: set[str], network: str) -> str:
    """The first path segment of a page URL, or the reference itself if it is no URL."""
    text = ref.strip()
    if "/" not in text:
        return text
    url = text if "://" in text else "https://" + text
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in hosts:
        raise BadReference(f"{ref!r} is not a {network} page address")
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise BadReference(f"{ref!r} has no page name after the host")
    return "/".join(segments)


def normalize_vk(ref: str) -> PageRef:
    """VK: 123, -123, club123, public123, screen_name, or vk.com/vk.ru URLs of those."""
    name = _path_part(ref, _VK_HOSTS, "VK")
    if "/" in name:
        raise BadReference(f"{ref!r} points inside a page, not to a page")
    lowered = name.lower()
    if m := _VK_ID.match(lowered):
        if int(m.group(1)) == 0:
            raise BadReference(f"{ref!r}: 0 is not a community id")
        return PageRef("id", str(int(m.group(1))))
    if lowered.startswith("wall"):
        raise BadReference(f"{ref!r} is a post, not a community")
    if re.fullmatch(r"id\d+", lowered):
        raise BadReference(f"{ref!r} is a person's page, not a community")
    if _VK_RESERVED.match(lowered) or not _VK_NAME.match(lowered):
        raise BadReference(f"{ref!r} is not a valid VK screen name")
    return PageRef("screen_name", lowered)


def normalize_tg(ref: str) -> PageRef:
    """Telegram: @username, username, t.me/username, or a numeric channel id."""
    text = ref.strip()
    if text.startswith("@"):
        text = text[1:]
    if re.fullmatch(r"-?\d{1,16}", text):
        return PageRef("id", str(abs(int(text))))
    name = _path_part(text, _TG_HOSTS, "Telegram")
    if name.startswith("s/"):
        name = name[2:]
    lowered = name.lower()
    if "/" in lowered or not _TG_NAME.match(lowered):
        raise BadReference(f"{ref!r} is not a valid Telegram username")
    return PageRef("screen_name", lowered)


def normalize_ok(ref: str) -> PageRef:
    """Odnoklassniki: numeric group id, ok.ru/group/<id>, or ok.ru/<name>."""
    text = ref.strip()
    if re.fullmatch(r"\d{1,20}", text):
        return PageRef("id", text)
    name = _path_part(text, _OK_HOSTS, "OK")
    if m := re.fullmatch(r"group/(\d{1,20})", name):
        return PageRef("id", m.group(1))
    lowered = name.lower()
    if "/" in lowered or not _OK_NAME.match(lowered) or lowered.isdigit():
        raise BadReference(f"{ref!r} is not a valid OK group address")
    return PageRef("screen_name", lowered)


_NORMALIZERS = {"vk": normalize_vk, "tg": normalize_tg, "ok": normalize_ok}


def normalize_ref(network: str, ref: str) -> PageRef:
    """Normalise a page reference of the given network; BadReference says why it is malformed."""
    if not ref or not ref.strip():
        raise BadReference("empty page reference")
    return _NORMALIZERS[network](ref)


def _parse_row(row: dict[str, str], line: int, source: str) -> RegistryPage:
    problems: list[str] = []
    network = normalize_network(row.get("network") or "")
    if network not in NETWORKS:
        problems.append(
            f"unknown network {row.get('network')!r} (expected one of {', '.join(NETWORKS)})"
        )
    ref = None
    if network in NETWORKS:
        try:
            ref = normalize_ref(network, row.get("page_ref") or "")
        except BadReference as exc:
            problems.append(f"malformed page reference: {exc}")
    title = (row.get("title") or "").strip()
    if not title:
        problems.append("missing title")
    region_raw = (row.get("region_code") or "").strip()
    region_code = int(region_raw) if region_raw.isdigit() else None
    if region_code not in REGIONS:
        problems.append(f"unknown region code {region_raw!r}")
    sector = normalize_sector(row.get("sector") or "")
    if sector not in SECTORS:
        problems.append(
            f"unknown sector {row.get('sector')!r} (expected one of {', '.join(SECTORS)})"
        )
    flagship_raw = (row.get("flagship") or "").strip().lower()
    if flagship_raw not in _TRUE | _FALSE:
        problems.append(f"flagship must be true or false, got {row.get('flagship')!r}")
    oktmo = None
    if oktmo_raw := (row.get("oktmo") or "").strip():
        try:
            oktmo = normalize_oktmo(oktmo_raw)
        except BadOktmo as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    assert ref is not None and region_code is not None
    return RegistryPage(
        network=network,
        registry_ref=(row.get("page_ref") or "").strip(),
        ref=ref,
        title=title,
        organization=(row.get("organization") or "").strip() or None,
        region_code=region_code,
        municipality=(row.get("municipality") or "").strip() or None,
        sector=sector,
        is_flagship=flagship_raw in _TRUE,
        source_file=source,
        source_line=line,
        oktmo=oktmo,
    )


def validate_registry(path: Path | str) -> ValidationResult:
    """Validate a registry (CSV in UTF-8 or cp1251 with any usual separator, or XLSX) row by row;
    raises RegistryFileError if the file as a whole is unusable."""
    path = Path(path)
    if not path.exists():
        raise RegistryFileError(f"{path}: no such registry file")
    try:
        encoding, separator, records = read_rows(path)
        first = next(records, None)
        if first is None:
            raise RegistryFileError(f"{path}: empty file, expected header {','.join(HEADER)}")
        header = canonical_header(
            path, first[1], ALIASES, HEADER, separator=separator, encoding=encoding
        )
        pages: list[RegistryPage] = []
        errors: list[RowError] = []
        seen: dict[tuple[str, PageRef], int] = {}
        for line, values in records:
            if not any(v.strip() for v in values):
                continue
            if any(len(v.encode()) > MAX_FIELD_BYTES for v in values):
                errors.append(RowError(line, f"a field longer than {MAX_FIELD_BYTES // 1024} KB"))
                continue
            row = {n: v for n, v in zip(header.names, values, strict=False) if n is not None}
            if len(values) != len(header.names):
                errors.append(
                    RowError(
                        line, f"expected {len(header.names)} columns, found {len(values)}", row
                    )
                )
                continue
            try:
                page = _parse_row(row, line, path.name)
            except ValueError as exc:
                errors.append(RowError(line, str(exc), row))
                continue
            key = (page.network, page.ref)
            if key in seen:
                errors.append(
                    RowError(
                        line, f"duplicate page: same {page.network} page as line {seen[key]}", row
                    )
                )
                continue
            seen[key] = line
            pages.append(page)
    except TableFileError as exc:
        raise RegistryFileError(str(exc)) from None
    return ValidationResult(path, pages, errors)


def load_registry(paths: list[Path]) -> ValidationResult:
    """Validate several registry files (one per region) as one registry."""
    if not paths:
        raise RegistryFileError("no registry files given")
    results = [validate_registry(p) for p in paths]
    pages: list[RegistryPage] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, PageRef], str] = {}
    for res in results:
        errors.extend(RowError(e.line, f"{res.path.name}: {e.reason}", e.row) for e in res.errors)
        for p in res.pages:
            key = (p.network, p.ref)
            if key in seen:
                errors.append(
                    RowError(p.source_line, f"{p.source_file}: duplicate page, also in {seen[key]}")
                )
                continue
            seen[key] = f"{p.source_file} line {p.source_line}"
            pages.append(p)
    return ValidationResult(paths[0], pages, errors)


def registry_paths(spec: str | Path) -> list[Path]:
    """A registry is a CSV or XLSX file or a folder of them (one per region)."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            # Excel keeps "~$name.xlsx" beside a workbook while it is open
            if p.suffix.lower() in (".csv", *XLSX_SUFFIXES) and not p.name.startswith("~$")
        )
        if not files:
            raise RegistryFileError(f"{path}: folder holds no registry CSV or XLSX files")
        return files
    return [path]
