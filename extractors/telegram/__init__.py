"""Telegram channel counts: MTProto through telethon (extract), or public t.me pages (preview)."""
