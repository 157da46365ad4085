"""Which Slack channel an approval goes to.

The routing file (``APPROVALS_ROUTES``) is YAML::

    routes:
      - organisation: acme          # glob; omitted means "*"
        project: "payments-*"
        environment: production
        channel: C0PAYMENTS

The most specific matching route wins; ``APPROVALS_CHANNEL`` takes everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from bot.approval import ApprovalRequest
from bot.config import ConfigError

VARIABLE = "APPROVALS_ROUTES"
_FIELDS = ("organisation", "project", "environment")
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Route:
    organisation: str
    project: str
    environment: str
    channel: str
    line: int

    def matches(self, request: ApprovalRequest) -> bool:
        return (
            fnmatchcase(request.organisation, self.organisation)
            and fnmatchcase(request.project, self.project)
            and fnmatchcase(request.target_environment, self.environment)
        )

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Exact names beat globs, globs beat "*"; then the longer literal part wins."""
        patterns = (self.organisation, self.project, self.environment)
        exact = sum(1 for p in patterns if not _GLOB_CHARACTERS & set(p))
        narrowed = sum(1 for p in patterns if p != "*")
        literal = sum(len(p) - sum(p.count(c) for c in _GLOB_CHARACTERS) for p in patterns)
        return (exact, narrowed, literal)


class Router:
    def __init__(self, default_channel: str, routes: list[Route]) -> None:
        self.default_channel = default_channel
        # Stable sort: among equally specific routes, the earlier one in the file wins.
        self._routes = sorted(routes, key=lambda route: route.specificity, reverse=True)

    def channel_for(self, request: ApprovalRequest) -> str:
        for route in self._routes:
            if route.matches(request):
                return route.channel
        return self.default_channel


def load_router(default_channel: str, path: Path | None) -> Router:
    if path is None:
        return Router(default_channel, [])
    return Router(default_channel, parse_routes(path.read_text(encoding="utf-8"), path.name))


def parse_routes(text: str, source: str) -> list[Route]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark else "?"
        problem = f"file {source} line {line}: {error.problem}"
        if error.context_mark is not None and error.context:
            problem += f" ({error.context} started on line {error.context_mark.line + 1})"
        raise ConfigError(VARIABLE, problem) from None
    except yaml.YAMLError as error:
        raise ConfigError(VARIABLE, f"file {source}: {error}") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise _error(source, root, "expected a mapping with a 'routes' list")
    entries = dict(_pairs(source, root))
    unknown = set(entries) - {"routes"}
    if unknown:
        raise _error(source, root, f"unknown key {sorted(unknown)[0]!r}; expected 'routes'")
    routes_node = entries.get("routes")
    if routes_node is None or _is_null(routes_node):
        return []
    if not isinstance(routes_node, yaml.SequenceNode):
        raise _error(source, routes_node, "'routes' must be a list")
    return [_route(source, node) for node in routes_node.value]


def _route(source: str, node: yaml.Node) -> Route:
    if not isinstance(node, yaml.MappingNode):
        raise _error(source, node, "each route must be a mapping with a 'channel'")
    fields: dict[str, str] = {}
    for key, value in _pairs(source, node):
        if key not in (*_FIELDS, "channel"):
            allowed = ", ".join((*_FIELDS, "channel"))
            raise _error(source, value, f"unknown key {key!r}; expected one of {allowed}")
        if not isinstance(value, yaml.ScalarNode) or _is_null(value) or not value.value.strip():
            raise _error(source, value, f"{key!r} must be a non-empty text")
        fields[key] = value.value.strip()
    if "channel" not in fields:
        raise _error(source, node, "this route has no 'channel'")
    return Route(
        organisation=fields.get("organisation", "*"),
        project=fields.get("project", "*"),
        environment=fields.get("environment", "*"),
        channel=fields["channel"],
        line=node.start_mark.line + 1,
    )


def _pairs(source: str, node: yaml.MappingNode) -> list[tuple[str, yaml.Node]]:
    pairs = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise _error(source, key, "keys must be plain names")
        pairs.append((key.value, value))
    return pairs


def _is_null(node: yaml.Node) -> bool:
    return node.tag == "tag:yaml.org,2002:null"


def _error(source: str, node: yaml.Node, problem: str) -> ConfigError:
    return ConfigError(VARIABLE, f"file {source} line {node.start_mark.line + 1}: {problem}")
