#!/usr/bin/env bash
# Set up a virtualenv with reelflow and its dev tools, then run every check the project holds
# itself to: lint, format, types, layer contracts, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"

echo "== ruff (lint)";          .venv/bin/ruff check .
echo "== ruff (format)";        .venv/bin/ruff format --check .
echo "== mypy (flow, store)";   .venv/bin/mypy
echo "== import contracts";     .venv/bin/lint-imports
echo "== pytest";               .venv/bin/pytest "$@"
