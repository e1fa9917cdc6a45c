"""The emulator's answers as telethon's own TL constructors (layer of telethon 1.45).

Shapes follow core.telegram.org: contacts.resolveUsername returns contacts.resolvedPeer (peer
plus the chats/users it names); channels.getFullChannel returns messages.chatFull with a
channelFull (participants_count) and the channel itself in `chats`. Errors travel as the
rpc_error constructor, as MTProto's rpc_result carries them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

# restriction_reason of a channel blocked for everyone: platform "all", reason "terms"
TERMS_TEXT = "This channel can't be displayed because it violated Telegram's Terms of Service."
# wrappers a client may put around the real call; the emulator answers the inner query
_WRAPPERS = (
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
)


class RpcFailure(Exception):
    """An RPC error the emulator answers with (code and Telegram's message)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def access_hash(seed: int, peer_id: int) -> int:
    """A stable signed 64-bit access_hash for one account (seed) and one peer."""
    digest = hashlib.sha256(f"{seed}:{peer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def read_request(body: bytes) -> TLObject:
    """The TL request in a body, with invokeWithoutUpdates/invokeWithLayer/initConnection
    unwrapped."""
    request = BinaryReader(body).tgread_object()
    while isinstance(request, _WRAPPERS):
        request = request.query
    return request


def encode(obj: TLObject) -> bytes:
    return bytes(obj)


def encode_error(code: int, message: str) -> bytes:
    return bytes(types.RpcError(error_code=code, error_message=message))


def channel_object(
    *,
    channel_id: int,
    hash_: int,
    title: str,
    username: str | None,
    verified: bool,
    banned: bool,
    created: datetime,
) -> types.Channel:
    reasons = [types.RestrictionReason("all", "terms", TERMS_TEXT)] if banned else None
    return types.Channel(
        id=channel_id,
        title=title,
        photo=types.ChatPhotoEmpty(),
        date=created,
        broadcast=True,
        verified=verified,
        restricted=banned,
        access_hash=hash_,
        username=username,
        restriction_reason=reasons,
        usernames=[],
    )


def chat_full(channel: types.Channel, about: str, participants: int) -> types.messages.ChatFull:
    full = types.ChannelFull(
        id=channel.id,
        about=about,
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=1,
        participants_count=participants,
    )
    return types.messages.ChatFull(full_chat=full, chats=[channel], users=[])


def resolved_channel(channel: types.Channel) -> types.contacts.ResolvedPeer:
    return types.contacts.ResolvedPeer(
        peer=types.PeerChannel(channel.id), chats=[channel], users=[]
    )


def resolved_user(
    user_id: int, hash_: int, username: str, first_name: str, bot: bool
) -> types.contacts.ResolvedPeer:
    user = types.User(
        id=user_id,
        bot=bot,
        access_hash=hash_,
        first_name=first_name,
        username=username,
        bot_info_version=1 if bot else None,
    )
    return types.contacts.ResolvedPeer(peer=types.PeerUser(user_id), chats=[], users=[user])


def epoch(d) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)
