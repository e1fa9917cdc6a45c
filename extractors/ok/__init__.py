"""Odnoklassniki (OK.ru) group counts through the OK REST API (fb.do)."""
