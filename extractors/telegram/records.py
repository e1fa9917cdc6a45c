"""Pure functions turning Telegram TL objects and RPC errors into records (no I/O).

Status mapping (core.telegram.org method pages, telethon's error list, client reports):
- contacts.resolveUsername: a channel or supergroup -> ok (page_ref = channel id, access_key =
  access_hash); ChannelForbidden -> closed; a user or bot -> not_found ("is a user/bot, not a
  channel"); USERNAME_NOT_OCCUPIED / USERNAME_INVALID -> not_found.
- channels.getFullChannel: ChannelFull.participants_count -> ok, with the username and title of
  the Channel in `chats` (a renamed channel keeps its id and reports its new username);
  restricted=True with a restriction_reason for platform "all" (Telegram's global block, e.g.
  reason "terms") -> banned; platform-specific reasons (ios, android) only hide the channel in
  those apps -> ok; ChannelForbidden in `chats` -> closed.
- 406 CHANNEL_PRIVATE -> closed. Telegram gives the same answer for a channel that went private,
  one that banned us and, as client reports show, a deleted one: the API cannot tell them apart,
  so "deleted" is never claimed and the error text says so.
- 400 CHANNEL_INVALID -> not_found: Telegram does not know this (id, access_hash) pair. The hash
  is per account, so a TG_SESSION of another account makes every stored hash invalid: the
  error text says to re-resolve then.
- anything else (FLOOD_WAIT handled by the client, 5xx, timeouts) -> error, count None.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telethon import errors
from telethon.errors.rpcerrorlist import rpc_errors_dict, rpc_errors_re
from telethon.tl import types

from extractors.base import Resolution, checked_count
from gospulse.raw.warehouse import SnapshotRow

NETWORK = "tg"
GLOBAL_PLATFORM = "all"
PRIVATE_NOTE = (
    "CHANNEL_PRIVATE: the channel is private, has banned this account, or was deleted "
    "(Telegram answers all three alike)"
)
INVALID_NOTE = (
    "CHANNEL_INVALID: Telegram knows no channel with this id and access_hash (deleted, or the "
    "hash was resolved by another account: re-resolve the @username if TG_SESSION changed)"
)


# telethon's typed errors keep only the base name (BAD_REQUEST) in .message; Telegram's own
# message is recovered from the class
_MESSAGES = {cls: message for message, cls in rpc_errors_dict.items()}
_MESSAGES.update({cls: pattern.replace("(\\d+)", "X") for pattern, cls in rpc_errors_re})


def rpc_message(exc: errors.RPCError) -> str:
    """Telegram's error message for an RPC error (CHANNEL_PRIVATE, FLOOD_WAIT_X, ...)."""
    return _MESSAGES.get(type(exc), exc.message)


def rpc_text(exc: errors.RPCError) -> str:
    return f"[{exc.code}] {rpc_message(exc)}"


def channel_username(channel: Any) -> str | None:
    """The channel's public username (lowercase), or its first active collectible one."""
    name = getattr(channel, "username", None)
    if not name:
        for extra in getattr(channel, "usernames", None) or ():
            if getattr(extra, "active", False):
                name = extra.username
                break
    return name.lower() if name else None


def global_restriction(channel: Any) -> str | None:
    """The reason text when Telegram blocks the channel for everyone, else None."""
    if not getattr(channel, "restricted", False):
        return None
    for reason in getattr(channel, "restriction_reason", None) or ():
        platforms = (reason.platform or "").split("-")
        if GLOBAL_PLATFORM in platforms:
            return f"{reason.reason}: {reason.text}"
    return None


def resolution_from_peer(name: str, resolved: types.contacts.ResolvedPeer) -> Resolution:
    """A username's Resolution from a contacts.ResolvedPeer."""
    peer = resolved.peer
    if isinstance(peer, types.PeerChannel):
        chat = next((c for c in resolved.chats if c.id == peer.channel_id), None)
        if isinstance(chat, types.ChannelForbidden):
            return Resolution(name, None, "closed", f"@{name} is a channel we may not read")
        if chat is not None and getattr(chat, "access_hash", None) is not None:
            return Resolution(name, str(chat.id), "ok", access_key=str(chat.access_hash))
        return Resolution(name, None, "error", f"@{name}: channel {peer.channel_id} not in reply")
    if isinstance(peer, types.PeerUser):
        user = next((u for u in resolved.users if u.id == peer.user_id), None)
        kind = "bot" if getattr(user, "bot", False) else "user account"
        return Resolution(name, None, "not_found", f"@{name} is a {kind}, not a channel")
    return Resolution(name, None, "not_found", f"@{name} is a basic group, not a channel")


def resolution_from_error(name: str, exc: errors.RPCError) -> Resolution:
    """A username's Resolution when resolveUsername failed with an RPC error."""
    if isinstance(exc, errors.UsernameNotOccupiedError | errors.UsernameInvalidError):
        return Resolution(name, None, "not_found", f"@{name}: {rpc_message(exc)}")
    return Resolution(name, None, "error", f"@{name}: {rpc_text(exc)}")


def snapshot_from_full(
    page_ref: str,
    result: types.messages.ChatFull,
    snapshot_date: date,
    run_id: str | None = None,
) -> SnapshotRow:
    """One channel's snapshot from its messages.ChatFull."""
    full = result.full_chat
    channel = next((c for c in result.chats if str(c.id) == page_ref), None)
    if isinstance(channel, types.ChannelForbidden):
        return unavailable_snapshot(
            page_ref, snapshot_date, "closed", "ChannelForbidden", run_id, name=channel.title
        )
    name = getattr(channel, "title", None)
    username = channel_username(channel)
    verified = bool(channel.verified) if channel is not None else None
    blocked = global_restriction(channel)
    count = getattr(full, "participants_count", None)
    status, error = "ok", None
    if blocked:
        # a page that is gone reports no count, as for VK's banned communities
        status, error, count = "banned", blocked, None
    elif count is None:
        status, error = "error", "participants_count missing from channels.getFullChannel"
    else:
        count, error = checked_count(count, "participants_count")
        status = "error" if error else status
    return SnapshotRow(
        network=NETWORK,
        page_ref=page_ref,
        snapshot_date=snapshot_date,
        members_count=count,
        status=status,
        screen_name=username,
        page_name=name,
        is_verified=verified,
        error=error,
        run_id=run_id,
    )


def snapshot_from_error(
    page_ref: str, exc: errors.RPCError, snapshot_date: date, run_id: str | None = None
) -> SnapshotRow:
    """A channel whose getFullChannel failed with an RPC error other than a flood wait."""
    if isinstance(exc, errors.ChannelPrivateError):
        return unavailable_snapshot(page_ref, snapshot_date, "closed", PRIVATE_NOTE, run_id)
    if isinstance(exc, errors.ChannelInvalidError):
        return unavailable_snapshot(page_ref, snapshot_date, "not_found", INVALID_NOTE, run_id)
    return unavailable_snapshot(page_ref, snapshot_date, "error", rpc_text(exc), run_id)


def unavailable_snapshot(
    page_ref: str,
    snapshot_date: date,
    status: str,
    error: str | None,
    run_id: str | None = None,
    *,
    name: str | None = None,
    screen_name: str | None = None,
    source: str = "api",
) -> SnapshotRow:
    """A channel we could not count: a status and why, never a count of 0."""
    return SnapshotRow(
        network=NETWORK,
        page_ref=page_ref,
        snapshot_date=snapshot_date,
        members_count=None,
        status=status,
        screen_name=screen_name,
        page_name=name,
        error=error,
        source=source,
        run_id=run_id,
    )
