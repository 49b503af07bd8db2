"""CDK needs Node.js at synth time (jsii): these tests skip, saying so, only where
Node.js is truly absent; CI installs it (.ci/run)."""

from __future__ import annotations

import os
import shutil

import pytest

# jsii warns on every synth about Node versions near their end of life: noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

if shutil.which("node") is None:
    pytest.skip("Node.js is not installed: AWS CDK synthesis runs on Node.js (jsii); "
                "install it (apt-get install nodejs) to run the CDK tests",
                allow_module_level=True)
