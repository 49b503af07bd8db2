"""The documentation: the README stays a front page, the configuration reference is
generated from the settings table and the stack, and every test, file and module the
docs name exists (a promise's test must not vanish while the page still cites it)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tgsync.plan import required_absences
from tgsync.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = sorted(DOCS.glob("*.md"))


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", DOCS / "gen_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@functools.cache  # one rendering for every setting's test: the inputs do not change
def _rendered() -> str:
    return GEN.render()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _nav_pages() -> list[str]:
    config = yaml.safe_load(_text(REPO / "mkdocs.yml"))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return found


#: Backticked names that look like tests but are AWS API calls.
NOT_TESTS = {"TestEventPattern"}


@functools.cache  # the test files do not change during a run: parsed once, not per page
def _test_names() -> frozenset[str]:
    names: set[str] = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(_text(path))):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return frozenset(names)


class TestTheReadme:
    def test_it_is_a_front_page_of_at_most_250_lines(self):
        assert len(_text(README).splitlines()) <= 250

    def test_it_names_the_command_ci_runs(self):
        assert "make test" in _text(README)
        assert re.search(r"^make test\b", _text(REPO / ".ci" / "run"), flags=re.MULTILINE)

    def test_its_links_into_the_docs_lead_to_pages(self):
        targets = re.findall(r"\]\((docs/[^)#]+)", _text(README))
        assert targets
        for target in targets:
            assert (REPO / target).exists(), target


class TestTheConfigurationReference:
    def test_the_committed_page_is_what_the_generator_writes(self):
        assert _text(GEN.PAGE) == GEN.render(), "docs/configuration.md is stale: make docs"

    @pytest.mark.parametrize("item", SETTINGS, ids=lambda s: s.key)
    def test_every_setting_appears_with_each_of_its_names(self, item):
        page = _rendered()
        for name in (item.env, item.flag, item.mapping_key, item.tag, item.cfn, item.cdk):
            if name:
                assert f"`{name}`" in page, f"{item.key}: {name}"

    def test_every_parameter_of_the_stack_appears(self):
        page = _rendered()
        for name in GEN.stack_parameters():
            assert f"`{name}`" in page, name

    def test_a_new_parameter_would_appear_without_editing_the_generator(self, tmp_path):
        template = tmp_path / "stack.yaml"
        template.write_text(
            "Parameters:\n  BrandNew:\n    Type: String\n    Default: x\n"
            "    Description: a parameter the generator never heard of\n"
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
            "    Properties: {TopicName: !Ref BrandNew}\n"
        )
        assert "| `BrandNew` | `x` |" in GEN.stack_only_table(template)


class TestTheSite:
    def test_every_page_is_in_the_navigation_and_every_entry_is_a_page(self):
        nav = _nav_pages()
        assert sorted(nav) == sorted(p.name for p in PAGES)

    def test_the_site_loads_no_font_from_another_server(self):
        config = yaml.safe_load(_text(REPO / "mkdocs.yml"))
        # Material's default (no font key, or a font's name) loads Google Fonts on every
        # page view; its privacy plugin would fetch them at build time.
        assert config["theme"].get("font") is False
        assert "privacy" not in json.dumps(config.get("plugins", []))
        for asset in [*config.get("extra_css", []), *config.get("extra_javascript", [])]:
            assert not re.match(r"(https?:)?//", str(asset)), asset

    def test_the_benchmark_figures_are_included_never_copied(self):
        page = _text(DOCS / "benchmarks.md")
        assert '--8<-- "benchmarks/results.md"' in page
        rows = [
            line
            for line in _text(REPO / "benchmarks" / "results.md").splitlines()
            if line.startswith("| ") and not line.startswith("| figure |")
        ]
        for path in [README, *PAGES]:
            for row in rows:
                assert row not in _text(path), f"{path.name} copies a row of results.md"

    @pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
    def test_no_hand_kept_count_of_tests_or_mutants(self, path):
        assert not re.search(r"\b\d[\d,]* (tests|mutants)\b", _text(path))

    @pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
    def test_every_test_named_exists(self, path):
        names = _test_names()
        cited = set(re.findall(r"`((?:test_|Test)[A-Za-z0-9_]+)`", _text(path)))
        assert cited - names - NOT_TESTS == set()

    @pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
    def test_every_repository_path_named_exists(self, path):
        cited = re.findall(
            r"`((?:tests|testlab|deploy|benchmarks|src|docs|constraints)/"
            r"[\w./-]*\w)`",
            _text(path),
        )
        for item in cited:
            assert (REPO / item).exists(), item

    def test_the_layout_lists_every_module_of_the_package(self):
        layout = _text(DOCS / "contributing.md").split("## Layout", 1)[1]
        package = REPO / "src" / "tgsync"
        for module in package.glob("*.py"):
            if module.name != "__init__.py":
                assert re.search(rf"^  {re.escape(module.name)} ", layout, re.MULTILINE), module
        for sub in ("source/", "provider/"):
            assert f"  {sub}" in layout

    def test_the_capped_answer_figures_are_what_the_planner_computes(self):
        page = _text(DOCS / "how-it-decides.md")
        figures = [required_absences(8, n) for n in (10, 20, 30, 40)]
        expected = (
            f"{figures[0]} answers for 10 nodes, {figures[1]} for 20, "
            f"{figures[2]} for 30 and {figures[3]} for\n  40"
        )
        assert expected in page


def test_the_configuration_page_s_generator_runs_without_boto3_or_botocore():
    """make docs runs docs/gen_config.py in .venv-docs, which has neither (a module split
    once made the settings' parsers import botocore at the top, and CI's make docs failed)."""
    import subprocess
    import sys

    blocked = "import sys; sys.modules['boto3'] = sys.modules['botocore'] = None; "
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked + "import runpy; runpy.run_path('docs/gen_config.py', run_name='not_main')",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
