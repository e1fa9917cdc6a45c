"""A VKScript interpreter for the emulated `execute` method: esprima parses, we walk the AST.

Covers what vk_api and typical extractors send (vars, while/if, member access, push/slice...,
`API.section.method(params)` calls). Limits follow VK: 25 API calls per execute (error 13) and
a cap on loop iterations (error 13); syntax errors are error 12.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import esprima

MAX_API_CALLS = 25
MAX_LOOP_ITERATIONS = 10_000

# Node types the interpreter accepts; anything else (functions, for-in, new, ...) fails to
# compile as it would on VK, before any API call is made.
_SUPPORTED = {
    "Program",
    "VariableDeclaration",
    "VariableDeclarator",
    "ExpressionStatement",
    "WhileStatement",
    "IfStatement",
    "BlockStatement",
    "ReturnStatement",
    "EmptyStatement",
    "Identifier",
    "Literal",
    "ArrayExpression",
    "ObjectExpression",
    "Property",
    "MemberExpression",
    "StaticMemberExpression",
    "ComputedMemberExpression",
    "CallExpression",
    "AssignmentExpression",
    "BinaryExpression",
    "LogicalExpression",
    "UnaryExpression",
    "UpdateExpression",
    "ConditionalExpression",
}


class ApiCallError(Exception):
    """An API method failed; inside execute this becomes `false` plus an execute_errors entry."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"[{code}] {msg}")
        self.code = code
        self.msg = msg


class ExecuteError(Exception):
    """The whole execute request fails (12 compile error, 13 runtime error)."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"[{code}] {msg}")
        self.code = code
        self.msg = msg


def compile_error(detail: str) -> ExecuteError:
    return ExecuteError(12, f"Unable to compile code: {detail}")


def runtime_error(detail: str) -> ExecuteError:
    return ExecuteError(13, f"Runtime error occurred during code invocation: {detail}")


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


def parse(code: str) -> Any:
    """Parse VKScript into an esprima AST, or raise ExecuteError 12."""
    try:
        # Tolerant mode only to accept a top-level `return`, which plain JS forbids.
        tree = esprima.parseScript(code, {"tolerant": True})
    except esprima.Error as exc:
        raise compile_error(str(exc)) from None
    for err in getattr(tree, "errors", None) or []:
        if "Illegal return" not in err["message"]:
            raise compile_error(err["message"].removeprefix("Error: "))
    _check_supported(tree)
    return tree


def _check_supported(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _check_supported(item)
        return
    node_type = getattr(node, "type", None)
    if node_type is None:
        return
    if node_type not in _SUPPORTED:
        raise compile_error(f"unsupported construct {node_type}")
    for value in vars(node).values():
        if isinstance(value, list) or hasattr(value, "type"):
            _check_supported(value)


def run(
    code: str,
    call_api: Callable[[str, dict], Any],
    *,
    max_calls: int = MAX_API_CALLS,
    max_iterations: int = MAX_LOOP_ITERATIONS,
    args: dict | None = None,
) -> dict:
    """Run VKScript; return `{"response": value}` plus `execute_errors` when any call failed."""
    interpreter = _Interpreter(call_api, max_calls, max_iterations)
    interpreter.vars["Args"] = dict(args or {})
    value = interpreter.run(parse(code))
    result: dict[str, Any] = {"response": value}
    if interpreter.errors:
        result["execute_errors"] = interpreter.errors
    return result


class _Interpreter:
    def __init__(self, call_api: Callable[[str, dict], Any], max_calls: int, max_iter: int):
        self.call_api = call_api
        self.max_calls = max_calls
        self.max_iter = max_iter
        self.calls = 0
        self.iterations = 0
        self.vars: dict[str, Any] = {}
        self.errors: list[dict] = []

    def run(self, program: Any) -> Any:
        try:
            self.exec_block(program.body)
        except _Return as ret:
            return ret.value
        except RecursionError:
            raise runtime_error("expression is too deep") from None
        return None

    # statements
    def exec_block(self, statements: list) -> None:
        for statement in statements:
            self.exec(statement)

    def exec(self, node: Any) -> None:
        kind = node.type
        if kind == "ExpressionStatement":
            self.eval(node.expression)
        elif kind == "VariableDeclaration":
            for decl in node.declarations:
                self.vars[decl.id.name] = self.eval(decl.init) if decl.init else None
        elif kind == "ReturnStatement":
            raise _Return(self.eval(node.argument) if node.argument else None)
        elif kind == "BlockStatement":
            self.exec_block(node.body)
        elif kind == "IfStatement":
            if truthy(self.eval(node.test)):
                self.exec(node.consequent)
            elif node.alternate is not None:
                self.exec(node.alternate)
        elif kind == "WhileStatement":
            while truthy(self.eval(node.test)):
                self.iterations += 1
                if self.iterations > self.max_iter:
                    raise runtime_error("too many operations")
                self.exec(node.body)
        elif kind != "EmptyStatement":
            raise compile_error(f"unsupported statement {kind}")

    # expressions
    def eval(self, node: Any) -> Any:
        kind = node.type
        if kind == "Literal":
            return _number(node.value) if isinstance(node.value, float) else node.value
        if kind == "Identifier":
            if node.name == "undefined":
                return None
            if node.name not in self.vars:
                raise compile_error(f"undefined identifier '{node.name}'")
            return self.vars[node.name]
        if kind == "ArrayExpression":
            return [self.eval(item) for item in node.elements]
        if kind == "ObjectExpression":
            return {_prop_key(p): self.eval(p.value) for p in node.properties}
        if kind in ("MemberExpression", "StaticMemberExpression", "ComputedMemberExpression"):
            return get_member(self.eval(node.object), self._member_key(node))
        if kind == "CallExpression":
            return self.call(node)
        if kind == "AssignmentExpression":
            return self.assign(node)
        if kind == "UpdateExpression":
            old = to_number(self.eval(node.argument))
            new = _number(old + (1 if node.operator == "++" else -1))
            self.store(node.argument, new)
            return new if node.prefix else old
        if kind == "BinaryExpression":
            return binary(node.operator, self.eval(node.left), self.eval(node.right))
        if kind == "LogicalExpression":
            left = self.eval(node.left)
            if node.operator == "&&":
                return self.eval(node.right) if truthy(left) else left
            return left if truthy(left) else self.eval(node.right)
        if kind == "UnaryExpression":
            return unary(node.operator, self.eval(node.argument))
        if kind == "ConditionalExpression":
            branch = node.consequent if truthy(self.eval(node.test)) else node.alternate
            return self.eval(branch)
        raise compile_error(f"unsupported expression {kind}")

    def _member_key(self, node: Any) -> Any:
        return self.eval(node.property) if node.computed else node.property.name

    def assign(self, node: Any) -> Any:
        value = self.eval(node.right)
        if node.operator != "=":
            op = node.operator[:-1]
            if op not in ("+", "-", "*", "/", "%"):
                raise compile_error(f"unsupported operator {node.operator}")
            value = binary(op, self.eval(node.left), value)
        self.store(node.left, value)
        return value

    def store(self, target: Any, value: Any) -> None:
        if target.type == "Identifier":
            self.vars[target.name] = value
            return
        if target.type not in (
            "MemberExpression",
            "StaticMemberExpression",
            "ComputedMemberExpression",
        ):
            raise compile_error("non-variable in assignment")
        container = self.eval(target.object)
        key = self._member_key(target)
        if isinstance(container, dict):
            container[_key_str(key)] = value
        elif isinstance(container, list) and _is_index(key):
            index = int(key)
            container.extend([None] * (index + 1 - len(container)))
            container[index] = value
        else:
            raise runtime_error("assignment to a field of a non-object")

    def call(self, node: Any) -> Any:
        callee = node.callee
        args = [self.eval(arg) for arg in node.arguments]
        if callee.type == "Identifier":
            return builtin_function(callee.name, args)
        method = _api_method_name(callee)
        if method is not None:
            return self.api_call(method, args[0] if args else {})
        if callee.type not in ("MemberExpression", "StaticMemberExpression"):
            raise compile_error("unsupported call")
        return call_method(self.eval(callee.object), callee.property.name, args)

    def api_call(self, method: str, params: Any) -> Any:
        self.calls += 1
        if self.calls > self.max_calls:
            raise runtime_error("too many API calls")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise runtime_error("API method parameters must be an object")
        try:
            return self.call_api(method, dict(params))
        except ApiCallError as err:
            self.errors.append({"method": method, "error_code": err.code, "error_msg": err.msg})
            return False


def _api_method_name(callee: Any) -> str | None:
    """Return "section.method" for `API.section.method`, else None."""
    if callee.type not in ("MemberExpression", "StaticMemberExpression") or callee.computed:
        return None
    section = callee.object
    if section.type not in ("MemberExpression", "StaticMemberExpression") or section.computed:
        return None
    if section.object.type == "Identifier" and section.object.name == "API":
        return f"{section.property.name}.{callee.property.name}"
    return None


def _prop_key(prop: Any) -> str:
    key = prop.key
    return key.name if key.type == "Identifier" else _key_str(key.value)


def _key_str(key: Any) -> str:
    return to_string(_number(key) if isinstance(key, float) else key)


def _is_index(key: Any) -> bool:
    return isinstance(key, (int, float)) and not isinstance(key, bool) and key >= 0


def _number(value: float | int) -> float | int:
    # VK prints integral results without a fraction, as JSON numbers from JS would.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def truthy(value: Any) -> bool:
    """JavaScript truthiness: arrays and objects are true even when empty."""
    if isinstance(value, (list, dict)):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def to_number(value: Any) -> float | int:
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return _number(float(value.strip() or 0))
        except ValueError:
            return math.nan
    raise runtime_error("Comparing values of different or unsupported types")


def to_string(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        return str(_number(value))
    if isinstance(value, list):
        return ",".join("" if v is None else to_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _loose_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return to_number(a) == to_number(b)


def _strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def binary(op: str, a: Any, b: Any) -> Any:
    """Evaluate a binary operator with VKScript semantics (arrays concatenate with `+`)."""
    if op == "+":
        if isinstance(a, list):
            return a + b if isinstance(b, list) else a + [b]
        if isinstance(b, list):
            return [a] + b
        if isinstance(a, str) or isinstance(b, str):
            return to_string(a) + to_string(b)
        return _number(to_number(a) + to_number(b))
    if op in ("==", "!="):
        return _loose_equal(a, b) == (op == "==")
    if op in ("===", "!=="):
        return _strict_equal(a, b) == (op == "===")
    if op in ("<", "<=", ">", ">="):
        if not (isinstance(a, str) and isinstance(b, str)):
            a, b = to_number(a), to_number(b)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    x, y = to_number(a), to_number(b)
    if op == "-":
        return _number(x - y)
    if op == "*":
        return _number(x * y)
    if op in ("/", "%"):
        if y == 0:
            raise runtime_error("division by zero")
        return _number(x / y) if op == "/" else _number(math.fmod(x, y))
    raise compile_error(f"unsupported operator {op}")


def unary(op: str, value: Any) -> Any:
    if op == "!":
        return not truthy(value)
    if op == "-":
        return _number(-to_number(value))
    if op == "+":
        return to_number(value)
    raise compile_error(f"unsupported operator {op}")


def get_member(obj: Any, key: Any) -> Any:
    """Property access; missing keys and access on null/false give null, as on VK."""
    if isinstance(obj, (list, str)):
        if key == "length":
            return len(obj)
        if _is_index(key) and int(key) < len(obj):
            return obj[int(key)]
        return None
    if isinstance(obj, dict):
        return obj.get(_key_str(key))
    return None


def builtin_function(name: str, args: list) -> Any:
    if name in ("parseInt", "parseDouble"):
        text = to_string(args[0]).strip() if args else ""
        number = _leading_number(text, integer=name == "parseInt")
        return number
    raise compile_error(f"undefined function '{name}'")


def _leading_number(text: str, *, integer: bool) -> int | float | None:
    end = 0
    allowed = "0123456789" if integer else "0123456789.eE"
    if text[:1] in "+-":
        end = 1
    while end < len(text) and text[end] in allowed:
        end += 1
    try:
        return int(text[:end]) if integer else _number(float(text[:end]))
    except ValueError:
        return None


def call_method(obj: Any, name: str, args: list) -> Any:
    """Array and string methods VKScript documents: push, pop, shift, slice, indexOf, ..."""
    arg = args[0] if args else None
    if isinstance(obj, list):
        if name == "push":
            obj.extend(args)
            return len(obj)
        if name == "pop":
            return obj.pop() if obj else None
        if name == "shift":
            return obj.pop(0) if obj else None
        if name == "unshift":
            obj[:0] = args
            return len(obj)
        if name == "slice":
            return obj[_slice(args, len(obj))]
        if name == "splice":
            start = _index_arg(arg, len(obj))
            count = len(obj) - start if len(args) < 2 else max(0, int(to_number(args[1])))
            removed = obj[start : start + count]
            obj[start : start + count] = args[2:]
            return removed
        if name == "indexOf":
            return next((i for i, v in enumerate(obj) if _strict_equal(v, arg)), -1)
        if name == "join":
            return to_string(obj) if arg is None else to_string(arg).join(map(to_string, obj))
    if isinstance(obj, str):
        if name == "slice":
            return obj[_slice(args, len(obj))]
        if name == "substr":
            start = _index_arg(arg, len(obj))
            length = len(obj) - start if len(args) < 2 else int(to_number(args[1]))
            return obj[start : start + max(0, length)]
        if name == "indexOf":
            return obj.find(to_string(arg))
        if name == "split":
            return list(obj) if to_string(arg) == "" else obj.split(to_string(arg))
    raise runtime_error(f"unsupported method '{name}'")


def _index_arg(value: Any, length: int) -> int:
    index = int(to_number(value)) if value is not None else 0
    return max(0, length + index) if index < 0 else min(index, length)


def _slice(args: list, length: int) -> slice:
    start = _index_arg(args[0] if args else None, length)
    end = _index_arg(args[1], length) if len(args) > 1 else length
    return slice(start, end)
