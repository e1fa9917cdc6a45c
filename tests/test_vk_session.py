"""The per-token limiter and endpoint rewriting under vk_api."""

from __future__ import annotations

import pytest

from extractors.vk.session import VK_DEFAULT_BASE, SlidingWindowLimiter, VkEndpointSession


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def starts(rate, n, margin=0.0):
    clock = FakeClock()
    limiter = SlidingWindowLimiter(rate, margin=margin, clock=clock, sleep=clock.sleep)
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(clock.now)
    return out


def max_in_window(times, window=1.0):
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_never_more_than_rate_in_any_window_and_close_to_it():
    times = starts(3, 300)
    assert max_in_window(times) == 3
    # 300 requests at 3/s: the last one starts at 99 s, not later
    assert times[-1] == pytest.approx(99.0)


def test_margin_keeps_a_gap_for_clock_skew():
    times = starts(3, 30, margin=0.02)
    assert max_in_window(times, 1.02) == 3


def test_fractional_rate_keeps_its_average():
    times = starts(2.5, 101)
    assert times[-1] == pytest.approx(40.0)
    assert max_in_window(times, 2.0) <= 5


def test_rejects_nonpositive_rate():
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0)


def test_session_rewrites_only_the_vk_base(monkeypatch):
    sent = []
    session = VkEndpointSession("http://127.0.0.1:9/method", SlidingWindowLimiter(100))
    monkeypatch.setattr(
        "requests.Session.request", lambda self, method, url, *a, **k: sent.append((url, k)) or "r"
    )
    session.post(VK_DEFAULT_BASE + "groups.getById", {"a": 1})
    session.get("https://example.org/x")
    assert sent[0][0] == "http://127.0.0.1:9/method/groups.getById"
    assert sent[0][1]["timeout"] == 30.0
    assert sent[1][0] == "https://example.org/x"
    assert session.requests_sent == 2
