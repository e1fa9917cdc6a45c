"""A loopback Telegram: MTProto calls as TL bytes over HTTP, and t.me preview pages."""
