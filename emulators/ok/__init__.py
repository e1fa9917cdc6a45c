"""A loopback emulator of the OK REST API."""
