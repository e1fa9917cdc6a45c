"""VKScript interpreter: language constructs, VK limits, and the exact scripts vk_api sends."""

from __future__ import annotations

import pytest
import vk_api
from vk_api.requests_pool import VkRequestsPool, vk_one_method, vk_request_one_param_pool
from vk_api.tools import VkTools, vk_get_all_items

from emulators.vk import vkscript
from emulators.vk.server import VkEmulator, api_error
from emulators.vk.vkscript import ApiCallError, ExecuteError
from emulators.vk.world import World
from extractors.vk.session import SlidingWindowLimiter, VkEndpointSession


def echo_api(method: str, params: dict) -> dict:
    """A callback that echoes the call, and fails when asked to."""
    if params.get("fail"):
        raise ApiCallError(params["fail"], f"failure {params['fail']}")
    return {"method": method, "params": params}


def value(code: str, call_api=echo_api):
    return vkscript.run(code, call_api)["response"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return 1 + 2 * 3 - 4 / 2;", 5),
        ("return 7 / 2;", 3.5),
        ("return 7 % 3;", 1),
        ("return -5 + 2;", -3),
        ('return "a" + 1 + true;', "a1true"),
        ("return [1, 2] + [3];", [1, 2, 3]),
        ("return [1, 2] + 3;", [1, 2, 3]),
        ("var a, b = 2, c = b + 1; return [a, b, c];", [None, 2, 3]),
        ("var a = 1; a = a + 1; a += 3; a -= 1; return a;", 4),
        ("var i = 0; i++; ++i; return i;", 2),
        ("var x = {a: 1}; x.b = 2; x['c'] = 3; return x;", {"a": 1, "b": 2, "c": 3}),
        ('return {count: 1, "items": [], more: 1 != 1};', {"count": 1, "items": [], "more": False}),
        ("var l = [1]; l[2] = 5; return l;", [1, None, 5]),
        ("var i = 0, s = 0; while (i < 5) { s = s + i; i = i + 1; }; return s;", 10),
        ("if (1 > 2) { return 'a'; } else if (2 > 1) { return 'b'; } else { return 'c'; }", "b"),
        ("return 1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3;", True),
        (
            "return [1 == '1', 1 === '1', 1 != 2, 1 !== 1, null == null];",
            [True, False, True, False, True],
        ),
        ("return [0 || 'x', 1 && 'y', !0, !'a', ![]];", ["x", "y", True, False, False]),
        ("return 1 ? 'yes' : 'no';", "yes"),
        ("var n = null; return n == null ? 0 : n - 1;", 0),
        ("return [[1, 2, 3].length, 'abc'.length, [4, 5][1], [4][3]];", [3, 3, 5, None]),
        ("var r = false; return [r.count, r.items.length, null.x];", [None, None, None]),
        ("return {a: 1}.b;", None),
        (
            "var a = [1, 2, 3, 4]; return [a.slice(1), a.slice(1, 3), a.slice(-1)];",
            [[2, 3, 4], [2, 3], [4]],
        ),
        ("var a = [1, 2]; var n = a.push(3); return [n, a];", [3, [1, 2, 3]]),
        ("var a = [1, 2, 3]; return [a.pop(), a.shift(), a];", [3, 1, [2]]),
        ("return [[1, 2, 3].indexOf(2), [1].indexOf(9), 'hello'.indexOf('l')];", [1, -1, 2]),
        (
            "return [[1, 2].join('-'), 'a,b'.split(','), 'abcdef'.substr(1, 3)];",
            ["1-2", ["a", "b"], "bcd"],
        ),
        ("return [parseInt('42px'), parseInt(' 7 '), parseDouble('2.5')];", [42, 7, 2.5]),
        ("var a = [1,2,3,4]; var r = a.splice(1, 2); return [r, a];", [[2, 3], [1, 4]]),
        ("return;", None),
    ],
)
def test_constructs(code: str, expected) -> None:
    assert value(code) == expected


def test_api_calls_with_and_without_params() -> None:
    result = value('return [API.groups.getById({"group_ids": "1,2"}), API.utils.getServerTime()];')
    assert result == [
        {"method": "groups.getById", "params": {"group_ids": "1,2"}},
        {"method": "utils.getServerTime", "params": {}},
    ]


def test_api_call_error_becomes_false_and_execute_error() -> None:
    result = vkscript.run("var r = API.a.b({fail: 100}); return [r, !r, API.c.d()];", echo_api)
    assert result["response"] == [False, True, {"method": "c.d", "params": {}}]
    assert result["execute_errors"] == [
        {"method": "a.b", "error_code": 100, "error_msg": "failure 100"}
    ]


def test_no_execute_errors_key_when_all_calls_succeed() -> None:
    assert vkscript.run("return API.a.b();", echo_api).keys() == {"response"}


def test_25_api_calls_allowed_26th_fails_with_13() -> None:
    loop = "var i = 0; while (i < %d) { API.a.b(); i = i + 1; } return i;"
    assert value(loop % 25) == 25
    with pytest.raises(ExecuteError) as err:
        value(loop % 26)
    assert err.value.code == 13
    assert "too many API calls" in err.value.msg


def test_runaway_loop_is_a_runtime_error() -> None:
    with pytest.raises(ExecuteError) as err:
        value("var i = 0; while (true) { i = i + 1; } return i;")
    assert err.value.code == 13


@pytest.mark.parametrize(
    "code",
    ["return [;", "var = 1;", "function f() { return 1; } return f();", "return undefinedVar;"],
)
def test_compile_errors_are_12(code: str) -> None:
    calls = []
    with pytest.raises(ExecuteError) as err:
        vkscript.run(code, lambda m, p: calls.append(m))
    assert err.value.code == 12
    assert err.value.msg.startswith("Unable to compile code")
    assert calls == []


def test_comparing_unsupported_types_is_13() -> None:
    with pytest.raises(ExecuteError) as err:
        value("return [1] < {a: 1};")
    assert err.value.code == 13


def test_vk_api_one_method_script_runs_as_compiled() -> None:
    code = vk_one_method.compile({"method": "groups.getById", "values": [{"group_id": 1}, {}]})
    assert "\n" not in code  # vk_api minifies to one line
    assert value(code) == [
        {"method": "groups.getById", "params": {"group_id": 1}},
        {"method": "groups.getById", "params": {}},
    ]


def test_vk_api_get_all_script_runs_as_compiled() -> None:
    items = list(range(130))

    def list_api(method: str, params: dict) -> dict:
        offset, count = params["offset"], params["count"]
        return {"count": len(items), "items": items[offset : offset + count]}

    code = vk_get_all_items.compile(
        {
            "method": "test.list",
            "key": "items",
            "values": {"count": 50},
            "count": None,
            "offset": 0,
            "offset_mul": 1,
        },
    )
    assert value(code, list_api) == {"count": 130, "items": items, "offset": 150, "more": False}


# Through the real vk_api library against the running emulator.


@pytest.fixture(scope="module")
def emulator():
    world = World(n_pages=120)
    with VkEmulator(world, rate_limit=1000) as emu:
        numbers = list(range(2600))

        def get_list(params: dict[str, str]) -> dict:
            if "fail" in params:
                raise api_error(100, "fail is set")
            offset, count = int(params.get("offset", 0)), int(params.get("count", 100))
            return {"count": len(numbers), "items": numbers[offset : offset + count]}

        emu.register_method("test.getList", get_list)
        yield emu


@pytest.fixture
def vk(emulator):
    session = vk_api.VkApi(
        token="t",
        api_version="5.199",
        session=VkEndpointSession(emulator.base_url, SlidingWindowLimiter(10_000)),
    )
    session.RPS_DELAY = 0
    return session


def test_requests_pool_many_methods(emulator, vk) -> None:
    page = emulator.world.pages[0]
    with VkRequestsPool(vk) as pool:
        by_id = pool.method("groups.getById", {"group_ids": page.id, "fields": "members_count"})
        resolved = pool.method("utils.resolveScreenName", {"screen_name": page.default_screen_name})
        bad = pool.method("groups.getById", {"group_ids": "no_such_page_xyz"})
        listed = pool.method("test.getList", {"count": 3})
    assert by_id.result["groups"][0]["id"] == page.id
    assert "members_count" in by_id.result["groups"][0]
    assert resolved.result == {"object_id": page.id, "type": "group"}
    assert not bad.ok and bad.error["error_code"] == 100
    assert listed.result["items"] == [0, 1, 2]


def test_requests_pool_one_method_in_batches_of_25(emulator, vk) -> None:
    before = emulator.stats.by_method.get("execute", 0)
    pages = emulator.world.pages[:30]
    pool = VkRequestsPool(vk)
    results = [pool.method("groups.getById", {"group_id": p.id}) for p in pages]
    pool.execute()
    assert [r.result["groups"][0]["id"] for r in results] == [p.id for p in pages]
    assert emulator.stats.by_method["execute"] - before == 2  # 25 + 5


def test_request_one_param_pool(emulator, vk) -> None:
    ids = [p.id for p in emulator.world.pages[:3]] + [0]
    result, errors = vk_request_one_param_pool(
        vk, "groups.getById", key="group_id", values=ids, default_values={"fields": "verified"}
    )
    assert sorted(result) == sorted(ids[:3])
    assert all("verified" in r["groups"][0] for r in result.values())
    assert errors[0]["error_code"] == 100


def test_vk_tools_get_all(emulator, vk) -> None:
    before = emulator.stats
    everything = VkTools(vk).get_all("test.getList", 100)
    after = emulator.stats
    assert everything == {"count": 2600, "items": list(range(2600))}
    assert after.by_method["execute"] - before.by_method.get("execute", 0) == 2
    assert after.api_calls_in_execute - before.api_calls_in_execute == 26


def test_vk_tools_get_all_reports_execute_errors(vk) -> None:
    with pytest.raises(vk_api.VkToolsException):
        VkTools(vk).get_all("test.getList", 100, values={"fail": 1})


def test_execute_errors_over_http(emulator, vk) -> None:
    raw = vk.method("execute", {"code": "return [API.nope.nope(), 1];"}, raw=True)
    assert raw["response"] == [False, 1]
    assert raw["execute_errors"] == [
        {"method": "nope.nope", "error_code": 3, "error_msg": "Unknown method passed"}
    ]


@pytest.mark.parametrize(
    ("code", "error_code"), [("return [;", 12), ("while(true){}; return 1;", 13)]
)
def test_execute_failures_over_http(vk, code: str, error_code: int) -> None:
    with pytest.raises(vk_api.ApiError) as err:
        vk.method("execute", {"code": code})
    assert err.value.code == error_code
