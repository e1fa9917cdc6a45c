"""Several VK tokens: requests spread over them, each token within its limit, same answers."""

from __future__ import annotations

from datetime import date

import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from extractors.vk.client import VkAuthError, VkClient
from extractors.vk.extract import VkExtractor, fetch_batch, resolve_screen_names
from extractors.vk.pool import VkClientPool, split_tokens
from gospulse.extract.pipeline import vk_client_from_env

# real request rates against a real clock: run alone, after the parallel tests (Makefile)
pytestmark = pytest.mark.timing

TOKENS = ["token-a", "token-b", "token-c", "token-d"]


@pytest.fixture(scope="module")
def world():
    return World(seed=11, start=date(2026, 3, 1), n_pages=600)


@pytest.fixture
def emulator(world):
    with VkEmulator(world, rate_limit=3.0, tokens=set(TOKENS)) as emu:
        yield emu


def test_tokens_are_split_from_one_setting_and_deduplicated():
    assert split_tokens(" a, b,,a ,c ") == ["a", "b", "c"]
    assert split_tokens(None) == [] and split_tokens("") == []


def test_requests_spread_over_every_token_and_answers_match_one_token(world, emulator):
    names = [p.screen_name for p in world.pages if p.screen_name][:300]  # 12 execute requests
    single = VkClient(TOKENS[0], base_url=emulator.base_url)
    expected = resolve_screen_names(single, names)
    emulator.reset_stats()

    pool = VkClientPool(TOKENS, base_url=emulator.base_url, connections_per_token=2)
    try:
        got = resolve_screen_names(pool, names)
        assert got == expected  # same answers, in the same order
        stats = emulator.stats
        # 12 execute requests, each token within its limit; on a loaded machine a request can
        # reach the server late and land in the next one's window: VK's error 6, retried
        assert stats.rate_limited <= 2
        assert pool.stats.rate_limited == stats.rate_limited
        assert sum(stats.by_token.values()) == 12 + stats.rate_limited == pool.stats.requests
        # the first round goes to every token's connections in turn; the rest to whichever
        # connection frees first, which a loaded machine can make any token's (each within
        # its limit, as the server's count of error 6 above says)
        assert set(stats.by_token) == set(TOKENS)
        assert min(stats.by_token.values()) >= 2, stats.by_token
    finally:
        pool.close()


def test_a_pool_batch_keeps_every_token_busy_and_gets_every_page(world, emulator):
    pool = VkClientPool(TOKENS, base_url=emulator.base_url, connections_per_token=1)
    try:
        extractor = VkExtractor(pool)
        ids = [str(p.id) for p in world.pages]
        # four tokens: a batch holds four execute requests' worth of ids
        assert len(extractor.plan_batches(ids * 100)) == 1
        assert extractor.plan_batches([str(i) for i in range(1, 50_001)])[0] == [
            str(i) for i in range(1, 50_001)
        ]
        result = fetch_batch(pool, ids, date(2026, 3, 1))
        assert sorted(r.page_ref for r in result.rows) == sorted(ids)
        assert result.requests == 1  # 600 ids fit one execute: the pool does not inflate it
    finally:
        pool.close()


def test_a_rejected_token_in_the_pool_stops_the_run(world, emulator):
    pool = VkClientPool([*TOKENS[:2], "revoked"], base_url=emulator.base_url)
    names = [p.screen_name for p in world.pages if p.screen_name][:150]
    try:
        with pytest.raises(VkAuthError, match="rejected the access token"):
            resolve_screen_names(pool, names)
    finally:
        pool.close()


def test_several_tokens_in_vk_token_make_a_pool(monkeypatch, emulator):
    monkeypatch.setenv("GOSPULSE_VK_API_URL", emulator.base_url)
    monkeypatch.setenv("VK_TOKEN", "token-a,token-b")
    client = vk_client_from_env()
    assert isinstance(client, VkClientPool) and client.tokens == 2
    client.close()
    monkeypatch.setenv("VK_TOKEN", "token-a")
    assert isinstance(vk_client_from_env(), VkClient)
    monkeypatch.setenv("GOSPULSE_VK_CONNECTIONS_PER_TOKEN", "2")
    pooled = vk_client_from_env()
    assert isinstance(pooled, VkClientPool) and pooled.parallelism == 2
    pooled.close()
