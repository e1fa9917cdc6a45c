"""Telegram counts from public t.me pages, for deployments without Telegram API credentials.

GET <base>/<username> (base https://t.me, or GOSPULSE_TG_PREVIEW_URL) and read the
tgme_page_extra block: "12 345 subscribers" for a channel, "1 234 members, 56 online" for a
group, "@name" for a user, "@name" plus "N monthly users" for a bot; a name nobody holds gives a
page without it ("If you have Telegram, you can contact @name right away."). t.me/s/ pages carry
an abbreviated header counter ("12.3K subscribers"), also understood. Digits may be grouped with
spaces, no-break or thin spaces or commas; Russian pages say "подписчиков"/"участников".

This source cannot learn channel ids: page_ref is the lowercase username, so a renamed channel
is not followed (its old name reads not_found and the new one is a new page), and a deleted,
private or renamed channel all look alike (not_found). Paced by GOSPULSE_TG_PREVIEW_RPS
(default 1 request/s; t.me publishes no limit, this is an assumption).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import unescape

import requests

from extractors.base import (
    BatchResult,
    PageAddress,
    Resolution,
    checked_count,
    chunked,
    is_loopback_url,
    sorted_unique,
)
from extractors.telegram.client import ClientStats, env_number, telegram_setting
from extractors.telegram.records import NETWORK, unavailable_snapshot
from extractors.vk.session import SlidingWindowLimiter
from gospulse.raw.warehouse import SnapshotRow

log = logging.getLogger(__name__)

DEFAULT_PREVIEW_URL = "https://t.me"
ENV_PREVIEW_URL = "GOSPULSE_TG_PREVIEW_URL"
ENV_PREVIEW_RPS = "GOSPULSE_TG_PREVIEW_RPS"
SOURCE = "preview"
BATCH_SIZE = 200
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_SPACES = "\\s\u00a0\u202f\u2009\u2007"
_EXTRA = re.compile(r'<div class="tgme_page_extra"[^>]*>(.*?)</div>', re.S)
_HEADER_COUNTER = re.compile(r'<div class="tgme_header_counter"[^>]*>(.*?)</div>', re.S)
_TITLE = re.compile(r'<div class="tgme_page_title"[^>]*>(.*?)</div>', re.S)
_DESCRIPTION = re.compile(r'<div class="tgme_page_description"[^>]*>(.*?)</div>', re.S)
_TAG = re.compile(r"<[^>]+>")
_COUNT = re.compile(
    rf"(\d[\d{_SPACES},.']*?)[{_SPACES}]*([KkMm]|тыс\.?|млн\.?)?[{_SPACES}]*"
    r"(subscribers?|members?|monthly users|подписчик\w*|участник\w*)",
    re.I,
)
_MULTIPLIERS = {"k": 1_000, "m": 1_000_000, "тыс": 1_000, "млн": 1_000_000}
_KINDS = {"subscriber": "channel", "подписчик": "channel", "member": "group", "участник": "group"}


@dataclass(frozen=True)
class PreviewPage:
    """What a t.me page shows: kind (channel, group, user, bot, missing, blocked, unknown)."""

    kind: str
    members: int | None = None
    title: str | None = None
    verified: bool | None = None
    note: str | None = None


def _text(fragment: str) -> str:
    return unescape(_TAG.sub(" ", fragment)).strip()


def parse_count(text: str) -> tuple[int, str] | None:
    """(count, kind) from "12 345 subscribers", "1.2K subscribers", "2 410 members, 37 online",
    "12 345 подписчиков"...; None when the text holds no count."""
    match = _COUNT.search(unescape(text))
    if match is None:
        return None
    number, suffix, word = match.groups()
    digits = re.sub(f"[{_SPACES}]", "", number)
    if suffix:
        value = float(digits.replace(",", "."))
        count = round(value * _MULTIPLIERS[suffix.lower().rstrip(".")])
    else:
        count = int(re.sub(r"[,.']", "", digits))
    word = word.lower()
    if word == "monthly users":
        return count, "bot"
    kind = next(k for prefix, k in _KINDS.items() if word.startswith(prefix))
    return count, kind


def parse_preview(html: str) -> PreviewPage:
    """Classify a t.me (or t.me/s/) page and read its count."""
    title_match = _TITLE.search(html)
    title = _text(title_match.group(1)) if title_match else None
    verified = ("verified-icon" in title_match.group(0)) if title_match else None
    extras = [_text(m) for m in _EXTRA.findall(html)]
    extras += [_text(m) for m in _HEADER_COUNTER.findall(html)]
    counts = [c for c in (parse_count(e) for e in extras) if c is not None]
    if counts:
        # a bot's page holds "@name" and then "N monthly users": a bot, whatever its count
        kinds = {kind for _, kind in counts}
        if "bot" in kinds:
            return PreviewPage("bot", None, title, verified)
        count, kind = counts[0]
        return PreviewPage(kind, count, title, verified)
    if any(e.startswith("@") for e in extras):
        bot = "Start Bot" in html
        return PreviewPage("bot" if bot else "user", None, title, verified)
    description = _DESCRIPTION.search(html)
    about = _text(description.group(1)) if description else ""
    if title is None and ("you can contact" in about or "tgme_username_link" in html):
        return PreviewPage("missing")
    if "can't be displayed" in about or "violated" in about:
        return PreviewPage("blocked", None, title, verified, about)
    return PreviewPage("unknown", None, title, verified)


def snapshot_from_preview(
    username: str, page: PreviewPage, snapshot_date: date, run_id: str | None = None
) -> SnapshotRow:
    """One username's snapshot from its parsed t.me page."""
    count, error = (None, None)
    if page.kind in ("channel", "group") and page.members is not None:
        count, error = checked_count(page.members, f"t.me/{username} count")
    if count is not None:
        return SnapshotRow(
            network=NETWORK,
            page_ref=username,
            snapshot_date=snapshot_date,
            members_count=count,
            status="ok",
            screen_name=username,
            page_name=page.title,
            is_verified=page.verified,
            source=SOURCE,
            run_id=run_id,
        )
    status, error = {
        "blocked": ("banned", page.note),
        "user": ("not_found", f"t.me/{username} is a user account, not a channel"),
        "bot": ("not_found", f"t.me/{username} is a bot, not a channel"),
        "missing": (
            "not_found",
            f"t.me/{username}: no channel holds this username (never existed, deleted, made "
            "private or renamed: the public page cannot tell which)",
        ),
    }.get(page.kind, ("error", error or f"t.me/{username}: unrecognised page, no subscriber count"))
    return unavailable_snapshot(
        username,
        snapshot_date,
        status,
        error,
        run_id,
        name=page.title,
        screen_name=username,
        source=SOURCE,
    )


class TelegramPreviewExtractor:
    """Subscriber counts from t.me pages, as NetworkExtractor (page_ref is the username)."""

    network = "tg"

    def __init__(
        self,
        base_url: str = DEFAULT_PREVIEW_URL,
        *,
        requests_per_second: float = 1.0,
        timeout: float = 20.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        batch_size: int = BATCH_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.batch_size = batch_size
        self.stats = ClientStats()
        self._sleep = sleep
        self._limiter = SlidingWindowLimiter(requests_per_second, clock=clock, sleep=sleep)
        self._http = session or requests.Session()
        self._http.headers["User-Agent"] = "gospulse (+https://github.com/gospulse)"
        # English page text; Russian is understood too
        self._http.headers["Accept-Language"] = "en"

    @property
    def simulated(self) -> bool:
        return is_loopback_url(self.base_url)

    def counters(self) -> dict[str, float]:
        return self.stats.counters()

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        """No request: the username is the page_ref (this source never learns channel ids)."""
        return [Resolution(n, n.strip().lstrip("@").lower(), "ok") for n in names]

    def plan_batches(self, page_refs: Iterable[str]) -> list[list[str]]:
        return chunked(sorted_unique(page_refs), self.batch_size)

    def fetch_batch(
        self,
        page_refs: Sequence[str],
        snapshot_date: date,
        run_id: str | None,
        addresses: Mapping[str, PageAddress],
    ) -> BatchResult:
        """One t.me page per username; every ref comes back as exactly one row."""
        before = self.counters()
        rows: list[SnapshotRow] = []
        for ref in dict.fromkeys(page_refs):
            # page_ref is the username itself (see resolve); a numeric id cannot be read here
            username = ref.strip().lstrip("@")
            if not re.fullmatch(r"[a-zA-Z]\w{3,31}", username):
                rows.append(
                    unavailable_snapshot(
                        ref,
                        snapshot_date,
                        "error",
                        f"{ref!r}: the t.me preview source reads pages by @username; register "
                        "the channel's username, not its numeric id",
                        run_id,
                        source=SOURCE,
                    )
                )
                continue
            rows.append(self._fetch_one(ref, username.lower(), snapshot_date, run_id))
        after = self.counters()
        return BatchResult(
            rows=rows,
            requests=int(after["requests"] - before["requests"]),
            retries=int(after["retries"] - before["retries"]),
            rate_limited=int(after["rate_limited"] - before["rate_limited"]),
            wait_seconds=after["wait_seconds"] - before["wait_seconds"],
        )

    def _fetch_one(
        self, ref: str, username: str, snapshot_date: date, run_id: str | None
    ) -> SnapshotRow:
        url = f"{self.base_url}/{username}"
        attempt = 0
        while True:
            self.stats.wait_seconds += self._limiter.acquire()
            self.stats.requests += 1
            try:
                response = self._http.get(url, timeout=self.timeout)
                if response.status_code not in RETRY_STATUSES:
                    break
                reason = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    self.stats.rate_limited += 1
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = type(exc).__name__
            self.stats.add_error(reason)
            if attempt >= self.max_retries:
                return unavailable_snapshot(
                    ref,
                    snapshot_date,
                    "error",
                    f"{url}: {reason} after {attempt + 1} attempts",
                    run_id,
                    source=SOURCE,
                )
            attempt += 1
            self.stats.retries += 1
            pause = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
            log.warning(
                "%s: %s, retry %d/%d in %.1fs", url, reason, attempt, self.max_retries, pause
            )
            self._sleep(pause)
            self.stats.wait_seconds += pause
        if response.status_code == 404:
            return unavailable_snapshot(
                ref, snapshot_date, "not_found", f"{url}: HTTP 404", run_id, source=SOURCE
            )
        if response.status_code != 200:
            return unavailable_snapshot(
                ref,
                snapshot_date,
                "error",
                f"{url}: HTTP {response.status_code}",
                run_id,
                source=SOURCE,
            )
        return snapshot_from_preview(ref, parse_preview(response.text), snapshot_date, run_id)

    def close(self) -> None:
        self._http.close()


def preview_extractor_from_env() -> TelegramPreviewExtractor:
    """The preview source at GOSPULSE_TG_PREVIEW_URL (default https://t.me), paced by
    GOSPULSE_TG_PREVIEW_RPS (default 1)."""
    return TelegramPreviewExtractor(
        telegram_setting(ENV_PREVIEW_URL) or DEFAULT_PREVIEW_URL,
        requests_per_second=env_number(ENV_PREVIEW_RPS),
    )
