# Everything a newcomer needs: `make demo` and `make test` work on a fresh machine.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-stamp
SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-stamp
CKV_VENV  := .venv-checkov
CKV_STAMP := $(CKV_VENV)/.installed-stamp
# SAM CLI runs offline here: no telemetry, and a region for the linter.
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check

.PHONY: install test lint unit sam-check security build cfn demo demo-keep bench soak hypothesis-long clean lock

# Every virtualenv installs exactly its lock file in requirements/ (versions and sha256 hashes: pip
# refuses anything else), then this package itself, editable, without dependencies.
$(STAMP): pyproject.toml requirements/dev.txt
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) $(PIP_INSTALL) --require-hashes -r requirements/dev.txt
	$(PY) $(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# The AWS SAM CLI lives in its own virtualenv: it pins its own versions of boto3 and friends.
$(SAM_STAMP): requirements/sam.txt
	@test -x $(SAM_VENV)/bin/python || "$$(scripts/find-python)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python $(PIP_INSTALL) --require-hashes -r requirements/sam.txt
	@touch $(SAM_STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	@# Each handler is a module named app: check them one at a time.
	$(VENV)/bin/mypy functions/scheduled_scan/app.py
	$(VENV)/bin/mypy functions/iam_change/app.py

unit: install
	$(PY) -m pytest -q -n 2

# `sam validate --lint` and a real `sam build` (makefile build methods: no Docker, no python3.13 needed).
sam-check: $(SAM_STAMP)
	$(SAM) validate --lint --template-file template.yaml
	$(SAM) build --template-file template.yaml --build-dir build/sam
	@test -f build/sam/AuditorLayer/python/veeam_role_auditor/__init__.py
	@echo "sam build: layer $$(du -sh build/sam/AuditorLayer | cut -f1)"

# checkov (an IaC scanner, in its own virtualenv) over the translated template and the forwarder:
# every suppression carries its written reason in template.yaml (Metadata: checkov: skip).
$(CKV_STAMP): requirements/checkov.txt
	@test -x $(CKV_VENV)/bin/python || "$$(scripts/find-python)" -m venv $(CKV_VENV)
	$(CKV_VENV)/bin/python $(PIP_INSTALL) --require-hashes -r requirements/checkov.txt
	@touch $(CKV_STAMP)

security: install $(CKV_STAMP)
	$(PY) scripts/translate.py --placeholder-code template.yaml build/translated.json
	$(CKV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f build/translated.json
	$(CKV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f forwarder.yaml

# The README's test command: lint, types, the whole test suite, the SAM checks and checkov.
test: lint unit sam-check security

# The translated (plain CloudFormation) template, for service-managed StackSets, which refuse the
# SAM transform. Upload the code first: `sam package` fills in the S3 locations.
cfn: sam-check
	$(SAM) package --template-file build/sam/template.yaml --output-template-file build/packaged.yaml \
		--s3-bucket "$${S3_BUCKET:?set S3_BUCKET to an artifacts bucket}"
	$(PY) scripts/translate.py build/packaged.yaml build/veeam-role-auditor.cfn.json

build: sam-check

bench: install
	$(PY) bench/trust_bench.py
	$(PY) bench/scan_bench.py
	$(PY) bench/publish_bench.py
	$(PY) bench/event_bench.py --rounds 1

# The large property-based run quoted in notes (not in CI): 100,000 examples per property.
hypothesis-long: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:xdist --hypothesis-show-statistics \
		tests/unit/test_policy_properties.py tests/unit/test_event_properties.py \
		-k "arbitrary_json or policy_shaped or mutated or every_input_encoding or identity_evaluation"

# A second implementation for the differential test (not in CI): @cloud-copilot/iam-simulate, pinned (its
# known errors are listed against this version), installed by npm into build/oracle (git-ignored).
.PHONY: oracle differential
ORACLE_VERSION := 0.1.173
ORACLE_STAMP := build/oracle/.installed-$(ORACLE_VERSION)
$(ORACLE_STAMP):
	npm install --silent --no-audit --no-fund --save-exact --prefix build/oracle @cloud-copilot/iam-simulate@$(ORACLE_VERSION)
	@touch $(ORACLE_STAMP)

oracle: $(ORACLE_STAMP)

# The trust engine against iam-simulate on generated trust policies (devtools/oracle/README.md); fails on a
# disagreement that no known error of iam-simulate explains. DIFFERENTIAL_EXAMPLES=N policies (default 2000).
differential: install oracle
	$(PY) -m pytest -q -p no:xdist -p no:cacheprovider -s devtools/oracle/test_differential.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CKV_VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The README's first command: the whole pipeline on an embedded AWS emulator, in under a minute.
demo: install
	$(PY) -m veeam_role_auditor demo

# The same, then the emulator keeps running for `scan` and `fix` by hand (it prints what to export).
demo-keep: install
	$(PY) -m veeam_role_auditor demo --keep-running

# The lock files, written by uv (in its own virtualenv under build/) for every Python from 3.11 and
# every platform. `make lock` after editing pyproject.toml or requirements/*.in keeps every other pin;
# `make lock LOCK_ARGS=--upgrade` moves everything to its newest release, and
# `make lock LOCK_ARGS='--upgrade-package moto'` one package. See DEVELOPERS.md.
UV_VERSION := 0.13.9
UV := build/uv/bin/uv
LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(LOCK_ARGS)

$(UV):
	@test -x build/uv/bin/python || "$$(scripts/find-python)" -m venv build/uv
	build/uv/bin/python $(PIP_INSTALL) 'uv==$(UV_VERSION)'

lock: $(UV)
	$(LOCK) pyproject.toml requirements/build.in --extra dev -o requirements/dev.txt
	$(LOCK) requirements/sam.in -o requirements/sam.txt
	$(LOCK) requirements/checkov.in -o requirements/checkov.txt
