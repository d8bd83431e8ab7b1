"""The expressions of a workflow: Google's Common Expression Language (CEL), through the
cel-python package. CEL cannot loop or recurse, reaches only the values it is given, and
has no access to the host, so a builder's expression cannot do more than compute a value.

An expression sees:
  params          the run's parameters, by name
  steps           each earlier step's result, by step id
  vars            the values `set` steps stored, by name
  item, index     inside a loop: the current element and its position
  current_user    the id of the user the run acts for (null without one); `$current_user`
                  is accepted for it, as in the records filter language
  trigger         what started a run other than the Workflow API: for a record event,
                  {"action", "schema", "record", "changed"} (null for an API run)

    params.score > 10 && size(params.tags) < 3
    steps.lead.id
    "Welcome, " + params.name
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy.adapter import CELJSONEncoder, json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from services.kit.errors import ValidationFailed
from services.kit.json import holds_nul

# What an expression may name at its top level.
ROOTS = frozenset({"params", "steps", "vars", "item", "index", "current_user", "trigger"})
CURRENT_USER_MARK = "$current_user"
MAX_EXPRESSION_LENGTH = 2000

_ENVIRONMENT = celpy.Environment()


class ExpressionFailed(Exception):
    """An expression could not be evaluated on the values it was given (a missing key, a
    division by zero, mismatched types): the step it belongs to fails with this message."""


_MEMBER = re.compile(r"(?<![\w.])(params|steps|vars)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


def _outside_strings(source: str) -> str:
    """`source` with the insides of its string literals blanked out."""
    out: list[str] = []
    quote = ""
    index = 0
    while index < len(source):
        ch = source[index]
        if quote:
            if ch == "\\" and index + 1 < len(source):
                out.append("  ")
                index += 2
                continue
            if ch == quote:
                quote = ""
                out.append(ch)
            else:
                out.append(" ")
        else:
            if ch in "\"'":
                quote = ch
            out.append(ch)
        index += 1
    return "".join(out)


def _unmarked(source: str) -> str:
    """`$current_user` as CEL names it (`current_user`), outside string literals only."""
    out: list[str] = []
    quote = ""
    index = 0
    while index < len(source):
        ch = source[index]
        if quote:
            out.append(ch)
            if ch == "\\" and index + 1 < len(source):
                out.append(source[index + 1])
                index += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif source.startswith(CURRENT_USER_MARK, index):
            out.append(CURRENT_USER_MARK[1:])
            index += len(CURRENT_USER_MARK) - 1
        else:
            out.append(ch)
        index += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Expression:
    """One expression, parsed once: evaluate() runs it on a run's values."""

    source: str
    _program: Any

    def members(self, root: str) -> frozenset[str]:
        """The names the expression reads under `root` (`steps.lead.id` → "lead" for
        "steps"): what must exist before it runs."""
        return frozenset(
            name for found, name in _MEMBER.findall(_outside_strings(self.source)) if found == root
        )

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The expression's value, as JSON (numbers, strings, booleans, null, lists and
        objects; timestamps as RFC 3339 text)."""
        try:
            result = self._program.evaluate(json_to_cel(dict(values)))
        except CELEvalError as error:
            raise ExpressionFailed(f"{self.source!r}: {error.args[0]}") from None
        if isinstance(result, CELEvalError):
            raise ExpressionFailed(f"{self.source!r}: {result.args[0]}")
        value = json.loads(json.dumps(result, cls=CELJSONEncoder))
        try:
            nul = holds_nul(value)
        except TypeError:  # a lone surrogate, which no JSON written out can hold
            raise ExpressionFailed(
                f"{self.source!r}: gives text that is not valid Unicode"
            ) from None
        if nul:
            # ('\x00' is a CEL escape.) A run keeps every value in its journal, which
            # cannot hold a NUL: the step fails here, saying why, not at the database.
            raise ExpressionFailed(f"{self.source!r}: gives a text with a NUL character")
        return value


def compile_expression(source: Any, *, where: str) -> Expression:
    """`source` parsed; ValidationFailed naming `where` when it is not an expression."""
    if not isinstance(source, str) or not source.strip():
        raise ValidationFailed(f"'{where}' must be an expression", field=where)
    if len(source) > MAX_EXPRESSION_LENGTH or "\x00" in source:
        raise ValidationFailed(
            f"'{where}' is longer than {MAX_EXPRESSION_LENGTH} characters", field=where
        )
    try:
        tree = _ENVIRONMENT.compile(_unmarked(source))
    except CELParseError as error:
        raise ValidationFailed(
            f"'{where}' is not a valid expression: {str(error).splitlines()[0][:200]}",
            field=where,
        ) from None
    return Expression(source, _ENVIRONMENT.program(tree))
