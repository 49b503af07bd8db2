"""terraform-provider-aws's schema, for checking the Terraform module offline.

``terraform validate`` needs the provider, which cannot be downloaded here. PyPI's
``cdktn-provider-aws`` wheel carries the provider's schema in its jsii assembly
(``provider-aws@*.jsii.tgz``): every resource and data source is a class whose config
struct lists its arguments (optional or required) and its nested blocks (struct-typed
properties). This script reads that assembly out of the wheel once and writes a compact
JSON that tests/deploy/test_terraform.py walks the module's HCL against:

    {"provider_version": "6.69.1",
     "resources": {"aws_lambda_function": FQN, ...}, "data_sources": {...},
     "attributes": {"aws_lambda_function": ["arn", "function_name", ...], ...},
     "structs": {FQN: {"arguments": {"function_name": true, ...},   # true: required
                       "blocks": {"environment": [FQN, false], ...}}}}

    python deploy/terraform_schema.py WHEEL OUT.json

Standard library only; ``make check-templates`` fetches the wheel (pinned in the Makefile)
and runs this.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

#: A resource's or data source's class, by the link its docs give.
_REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/"
    r"hashicorp/aws/([0-9.]+)/docs/(resources|data-sources)/\w+ (\w+)\}"
)
#: An argument's name, by the anchor of the link its docs give.
_ANCHOR = re.compile(r"/docs/(?:resources|data-sources)/\w+#(\w+) ")


def assembly(wheel: Path) -> dict[str, Any]:
    """The jsii assembly inside the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".jsii.tgz")), None)
        if name is None:
            raise SystemExit(f"terraform_schema.py: no .jsii.tgz in {wheel}")
        with archive.open(name) as packed, tarfile.open(fileobj=packed, mode="r|gz") as tar:
            for member in tar:
                if member.name == "package/.jsii":
                    handle = tar.extractfile(member)
                    if handle is not None:
                        loaded: dict[str, Any] = json.loads(handle.read())
                        return loaded
    raise SystemExit(f"terraform_schema.py: no package/.jsii in {name}")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _argument(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    found = _ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    return found[1] if found else _snake(prop["name"])


def _struct_in(kind: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The struct a property's type names (alone, in a list, or beside IResolvable)."""
    if "fqn" in kind:
        fqn = kind["fqn"]
        return fqn if types.get(fqn, {}).get("datatype") else None
    if "collection" in kind:
        return _struct_in(kind["collection"]["elementtype"], types)
    if "union" in kind:
        found = [_struct_in(member, types) for member in kind["union"]["types"]]
        return next((fqn for fqn in found if fqn), None)
    return None


def _struct(fqn: str, types: dict[str, Any], out: dict[str, Any]) -> None:
    if fqn in out:
        return
    entry: dict[str, Any] = {"arguments": {}, "blocks": {}}
    out[fqn] = entry
    for prop in types[fqn].get("properties", []):
        name, required = _argument(prop), not prop.get("optional", False)
        nested = _struct_in(prop["type"], types)
        if nested is None:
            entry["arguments"][name] = required
        else:
            entry["blocks"][name] = [nested, required]
            _struct(nested, types, out)


def schema(jsii: dict[str, Any]) -> dict[str, Any]:
    """The compact schema of every resource and data source of the assembly."""
    types: dict[str, Any] = jsii["types"]
    result: dict[str, Any] = {
        "provider_version": "",
        "resources": {},
        "data_sources": {},
        "attributes": {},
        "structs": {},
    }
    for kind in types.values():
        found = _REPRESENTS.search(kind.get("docs", {}).get("summary", ""))
        if kind.get("kind") != "class" or found is None:
            continue
        version, section, name = found.groups()
        params = kind.get("initializer", {}).get("parameters", [])
        config = next((p["type"]["fqn"] for p in params if p["name"] == "config"), None)
        if config is None:
            continue
        result["provider_version"] = version
        result["resources" if section == "resources" else "data_sources"][name] = config
        # What a reference may read: the class's getters (not the *Input twins).
        result["attributes"][name] = sorted(
            _snake(prop["name"])
            for prop in kind.get("properties", [])
            if not prop.get("static") and not prop["name"].endswith("Input")
        )
        _struct(config, types, result["structs"])
    return result


def main(argv: list[str]) -> int:
    """Write the schema of the wheel ``argv[0]`` to ``argv[1]``."""
    if len(argv) != 2:  # the wheel and the output
        print("usage: terraform_schema.py WHEEL OUT.json", file=sys.stderr)
        return 2
    wheel, out = Path(argv[0]), Path(argv[1])
    result = schema(assembly(wheel))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
    print(
        f"wrote {out}: provider {result['provider_version']}, "
        f"{len(result['resources'])} resources, {len(result['data_sources'])} data sources"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
