"""One-time interactive Telegram login that yields a session string for TG_SESSION.

telethon's own sign-in flow (phone, the code Telegram sends, the 2FA password if set) runs on a
fresh StringSession, so nothing is written to disk; the string it prints is the account's key:
keep it as a secret (env TG_SESSION or the `telegram` Airflow connection's extra "session").
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Callable

from telethon import TelegramClient
from telethon.sessions import StringSession

from extractors.telegram.client import TelegramConfigError

# my.telegram.org issues api_hash as 32 hex digits
_API_HASH = re.compile(r"^[0-9a-fA-F]{32}$")
_PHONE = re.compile(r"^\+?\d{7,15}$")


def validate_login_args(api_id: str | int, api_hash: str, phone: str | None = None) -> int:
    """The api_id as a number; a TelegramConfigError that never echoes the hash otherwise."""
    try:
        number = int(api_id)
    except (TypeError, ValueError):
        raise TelegramConfigError("api_id must be the number shown on my.telegram.org") from None
    if number <= 0:
        raise TelegramConfigError("api_id must be a positive number")
    if not api_hash or not _API_HASH.match(api_hash):
        raise TelegramConfigError("api_hash must be the 32 hex digits shown on my.telegram.org")
    if phone is not None and not _PHONE.match(phone.replace(" ", "").replace("-", "")):
        raise TelegramConfigError("phone must be in international format, e.g. +79001234567")
    return number


def create_session_string(
    api_id: str | int,
    api_hash: str,
    phone: str | None = None,
    *,
    input: Callable[[str], str] = input,  # noqa: A002 - the builtin's role, injectable for tests
    password: Callable[[str], str] = getpass.getpass,
    output: Callable[[str], None] = print,
) -> str:
    """Log in interactively and return the StringSession to store as TG_SESSION."""
    number = validate_login_args(api_id, api_hash, phone)
    output(
        "Logging in to Telegram. Telegram will send a login code to the account's apps (or by SMS)."
    )

    async def login() -> str:
        client = TelegramClient(StringSession(), number, api_hash)
        try:
            await client.start(
                phone=lambda: phone or input("Phone number (international format, +7...): "),
                code_callback=lambda: input("Login code from Telegram: "),
                password=lambda: password("Two-step verification password: "),
            )
            return client.session.save()
        finally:
            await client.disconnect()

    loop = asyncio.new_event_loop()
    try:
        session = loop.run_until_complete(login())
    finally:
        loop.close()
    output("Logged in. Store this string as the secret TG_SESSION (it grants account access):")
    output(session)
    return session
