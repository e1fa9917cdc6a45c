"""API tokens: one per client, scoped to regions, stored only as salted hashes in a JSON file.

A token reads `gsp_<token id>_<secret>`. The id is public (it names the token in lists and logs);
the secret is 32 random bytes, shown once when the token is added. A random secret has full
entropy, so a salted SHA-256 is enough; a slow password hash would only add latency per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gospulse.config import settings
from gospulse.raw.warehouse import warehouse_path

TOKENS_ENV = "GOSPULSE_API_TOKENS"
TOKENS_FILE = "api_tokens.json"
PREFIX = "gsp"
ALL_REGIONS = "*"


class TokenFileError(ValueError):
    """The token file cannot be read or a token command got bad input."""


def default_tokens_path() -> Path:
    """$GOSPULSE_API_TOKENS, else api_tokens.json next to the warehouse."""
    override = settings.read(TOKENS_ENV)
    return Path(override) if override else warehouse_path().resolve().parent / TOKENS_FILE


def parse_regions(text: str) -> tuple[str, ...]:
    """`*` or a comma-separated list of region codes (1..99) into the stored form."""
    text = text.strip()
    if text == ALL_REGIONS:
        return (ALL_REGIONS,)
    codes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 99:
            raise TokenFileError(f"bad region code {part!r} in --regions {text!r}: use 1..99 or *")
        codes.append(f"{int(part):02d}")
    if not codes:
        raise TokenFileError("--regions is empty: give region codes or *")
    return tuple(sorted(set(codes)))


@dataclass(frozen=True)
class Client:
    """One token's holder and what it may read."""

    token_id: str
    client: str
    regions: tuple[str, ...]
    created_at: str
    salt: str = field(repr=False)
    digest: str = field(repr=False)
    revoked_at: str | None = None

    @property
    def all_regions(self) -> bool:
        return ALL_REGIONS in self.regions

    def region_codes(self) -> list[int]:
        """The region codes this client may read (empty when it may read all)."""
        return [] if self.all_regions else [int(r) for r in self.regions]

    def may_read(self, region_code: int) -> bool:
        return self.all_regions or f"{int(region_code):02d}" in self.regions


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class TokenStore:
    """The token file: add, list, revoke, and verify a presented token.

    The file is re-read when it changes on disk, so a revocation takes effect in a running
    server without a restart.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._clients: dict[str, Client] = {}

    def _load(self) -> dict[str, Client]:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._clients = None, {}
                return self._clients
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp != self._stamp:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    clients = {
                        t["token_id"]: Client(**{**t, "regions": tuple(t["regions"])})
                        for t in data["tokens"]
                    }
                except (ValueError, KeyError, TypeError) as exc:
                    raise TokenFileError(f"token file {self.path} is unreadable: {exc}") from exc
                self._stamp, self._clients = stamp, clients
            return self._clients

    def _save(self, clients: dict[str, Client]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        payload = {"tokens": [asdict(c) for c in clients.values()]}
        # hashes only, but still nobody else's business: owner-only, replaced atomically
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
        os.replace(temp, self.path)

    def add(self, client: str, regions: str) -> tuple[str, Client]:
        """Create a token for a client; returns (the token, shown only now, and its record)."""
        if not client.strip():
            raise TokenFileError("--client is empty")
        scope = parse_regions(regions)
        clients = dict(self._load())
        token_id = secrets.token_hex(4)
        while token_id in clients:
            token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = Client(
            token_id=token_id,
            client=client.strip(),
            regions=scope,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            salt=salt,
            digest=_digest(salt, secret),
        )
        clients[token_id] = record
        self._save(clients)
        return f"{PREFIX}_{token_id}_{secret}", record

    def list(self) -> list[Client]:
        """Every token record, revoked ones included, oldest first."""
        return sorted(self._load().values(), key=lambda c: (c.created_at, c.token_id))

    def revoke(self, token_id: str) -> Client:
        """Revoke a token by its id; the record stays so the history is not lost."""
        clients = dict(self._load())
        if token_id not in clients:
            raise TokenFileError(f"no token {token_id!r} in {self.path}")
        revoked = Client(
            **{
                **asdict(clients[token_id]),
                "regions": clients[token_id].regions,
                "revoked_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        clients[token_id] = revoked
        self._save(clients)
        return revoked

    def verify(self, token: str) -> Client | None:
        """The client a presented token belongs to, or None when it is unknown or revoked."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not token_id or not secret:
            return None
        record = self._load().get(token_id)
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.digest, _digest(record.salt, secret)):
            return None
        return record
