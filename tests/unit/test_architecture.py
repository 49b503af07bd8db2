"""The house reads top-down: no module imports one that imports it back, each imports only
its own layer and those below, the planning core touches no I/O, and no function is too
big to hold in one head."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tgsync"


def imports() -> dict[str, set[str]]:
    """tgsync module -> the tgsync modules it imports, type-checking-only ones too."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(("tgsync", *path.relative_to(SRC).with_suffix("").parts))
        name = name.removesuffix(".__init__")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                folder = SRC.parent / node.module.replace(".", "/")
                # `from tgsync import cdk` imports a module or a package.
                targets.update(
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists()
                    or (folder / alias.name / "__init__.py").exists()
                )
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        found[name] = targets
    return found


def test_no_two_modules_depend_on_each_other_directly_or_through_others():
    graph = {m: {t for t in ts if t.startswith("tgsync")} for m, ts in imports().items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert cycles == []


def test_the_planning_core_and_the_guard_do_no_io():
    allowed = {
        "__future__",
        "collections.abc",
        "dataclasses",
        "enum",
        "ipaddress",
        "math",
        "tgsync.model",
    }
    for module in ("tgsync.plan", "tgsync.guard", "tgsync.model"):
        assert imports()[module] <= allowed, module


def test_the_follow_rules_and_the_event_reading_do_no_io():
    allowed = {
        "__future__",
        "collections.abc",
        "dataclasses",
        "re",
        "typing",
        "tgsync.plan",
        "tgsync.errors",
        "tgsync.parsers",
        "tgsync.source.rds_endpoint",
    }
    for module in ("tgsync.follow", "tgsync.events"):
        assert imports()[module] <= allowed, module


def test_the_table_of_settings_and_the_adoption_rules_do_no_io():
    allowed = {
        "__future__",
        "collections.abc",
        "dataclasses",
        "ipaddress",
        "re",
        "typing",
        "urllib.parse",
        "json",
        "tgsync.plan",
        "tgsync.guard",
        "tgsync.source",
        "tgsync.arn",
        "tgsync.errors",
        "tgsync.settings",
        "tgsync.settings_schema",
        "tgsync.config",
        "tgsync.model",
        "tgsync.parsers",
        "tgsync.mapping",
    }
    for module in (
        "tgsync.parsers",
        "tgsync.settings_schema",
        "tgsync.settings",
        "tgsync.stack_settings",
        "tgsync.mapping",
        "tgsync.config",
        "tgsync.discovery",
    ):
        assert imports()[module] <= allowed, module


#: The house's layers, lowest first: a module may import its own layer and those below,
#: never one above (the CDK construct's package stands apart, see below). Plain values
#: live at the bottom, so an adapter never reaches up into configuration for one.
LAYERS: tuple[frozenset[str], ...] = (
    # values and pure rules
    frozenset(
        {
            "tgsync.model",
            "tgsync.errors",
            "tgsync.deadline",
            "tgsync.arn",
            "tgsync.guard",
            "tgsync.plan",
            "tgsync.resync",
            "tgsync.follow",
            "tgsync.pacing",
            "tgsync.source",
            "tgsync.source.rds_endpoint",
            "tgsync.source.rds_status",
            "tgsync.source.rds_members",
        }
    ),
    # settings, configuration and the rules over configured mappings; events, reporting
    frozenset(
        {
            "tgsync.parsers",
            "tgsync.settings_schema",
            "tgsync.settings",
            "tgsync.stack_settings",
            "tgsync.mapping",
            "tgsync.config",
            "tgsync.discovery",
            "tgsync.ownership",
            "tgsync.memory_codec",
            "tgsync.events",
            "tgsync.report",
            "tgsync.rendering",
        }
    ),
    # adapters: the one AWS call path, the provider, the sources
    frozenset(
        {
            "tgsync.aws_service",
            "tgsync.aws",
            "tgsync.provider",
            "tgsync.provider.errors",
            "tgsync.provider.elbv2_api",
            "tgsync.provider.elbv2",
            "tgsync.provider.kms",
            "tgsync.source.resolver",
            "tgsync.source.rds",
        }
    ),
    # the stages of a cycle, and what a process keeps; the change events a cycle leaves
    frozenset(
        {
            "tgsync.registry",
            "tgsync.signatures",
            "tgsync.process_state",
            "tgsync.round",
            "tgsync.planning",
            "tgsync.apply",
            "tgsync.cycle",
            "tgsync.adoption",
            "tgsync.permission_checks",
            "tgsync.preflight",
            "tgsync.changes",
        }
    ),
    frozenset({"tgsync.controller"}),
    # entry points and wiring
    frozenset({"tgsync", "tgsync.wiring", "tgsync.lambda_handler", "tgsync.cli", "tgsync.bundle"}),
)


def test_every_module_is_in_a_layer_and_imports_nothing_above_it():
    graph = {
        m: {t for t in ts if t.startswith("tgsync")} for m, ts in imports().items() if not is_cdk(m)
    }
    layer = {module: n for n, members in enumerate(LAYERS) for module in members}
    assert sorted(set(graph) - set(layer)) == [], "a new module needs a layer"
    upward = sorted(
        f"{m} (layer {layer[m]}) imports {t} (layer {layer[t]})"
        for m, targets in graph.items()
        for t in targets
        if t in layer and layer[t] > layer[m]
    )
    assert upward == []


#: What the house measures instead of a class cap (issue 31): a function longer than a
#: screen, or with more parameters than a reader can hold, does more than one thing.
#: The CDK construct's keyword constructors mirror the settings table, one keyword each.
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 450, 60, 8
KEYWORD_CONSTRUCTORS = {("construct.py", "__init__"), ("construct.py", "add_mapping")}


def test_no_module_and_no_function_is_too_big_to_hold_in_one_head():
    too_big = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (path.name, node.name) in KEYWORD_CONSTRUCTORS and is_cdk(
                "tgsync." + ".".join(path.relative_to(SRC).with_suffix("").parts)
            ):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            args = node.args
            named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            params = (
                len([a for a in named if a.arg not in ("self", "cls")])
                + bool(args.vararg)
                + bool(args.kwarg)
            )
            if lines > MAX_FUNCTION_LINES or params > MAX_PARAMETERS:
                too_big.append(f"{path.name}: {node.name}: {lines} lines, {params} parameters")
    assert too_big == []


def is_cdk(module: str) -> bool:
    """The construct's package tgsync.cdk or one of its modules."""
    return module == "tgsync.cdk" or module.startswith("tgsync.cdk.")


def test_nothing_the_function_runs_imports_the_cdk_construct():
    graph = imports()
    assert len([m for m in graph if is_cdk(m)]) > 1, "tgsync.cdk is a package of modules"
    outside = {m: targets for m, targets in graph.items() if not is_cdk(m)}
    assert not [m for m, targets in outside.items() if any(map(is_cdk, targets))]
    # Nor the CDK itself: only the construct's package may import it (tgsync[cdk]).
    cdk_libraries = ("aws_cdk", "constructs", "jsii")
    assert not [
        m
        for m, targets in outside.items()
        if any(t.split(".")[0] in cdk_libraries for t in targets)
    ]
