"""tgsync.cdk is a package of small modules; its public names stay where users
import them from."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

if shutil.which("node") is None:
    pytest.skip(
        "Node.js is not installed: AWS CDK synthesis runs on Node.js (jsii); "
        "install it (apt-get install nodejs) to run the CDK tests",
        allow_module_level=True,
    )
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

#: What `from tgsync.cdk import ...` has offered since the construct was one module.
PUBLIC = (
    "HostnameTargetSync",
    "HANDLER",
    "TIMEOUT",
    "LOG_LEVELS",
    "MEMORY_TAG_KEYS",
    "KEYWORD_SETTINGS",
    "HEALTH_QUERY",
    "HEALTH_NAMESPACES",
    "ELB_ACTIONS_READ",
    "ELB_ACTIONS_WRITE",
    "ELB_ACTIONS_TARGETS",
    "ELB_ACTIONS_TAGS",
    "setting_variables",
    "discover_on",
)


def test_the_public_names_are_importable_from_the_package():
    cdk = importlib.import_module("tgsync.cdk")
    assert sorted(cdk.__all__) == sorted(PUBLIC)
    missing = [name for name in PUBLIC if not hasattr(cdk, name)]
    assert missing == []
    assert cdk.HostnameTargetSync.__module__ == "tgsync.cdk.construct"


def test_the_environment_checks_name_the_keyword():
    from tgsync.cdk import discover_on, setting_variables

    assert discover_on(True) and not discover_on(None)
    with pytest.raises(ValueError, match="owner is set but discover is not"):
        setting_variables({"owner": "team"})
