"""What the command groups share: argument types."""

from __future__ import annotations

import argparse
from datetime import date


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None
