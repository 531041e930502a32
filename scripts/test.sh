#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine (as root) and run the whole suite.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  apt-get install -y -qq jackd2 libportaudio2 libsndfile1 tmux >/dev/null
fi
python3 -m pip install -q --upgrade pip
# torch==2.13.0 is the CPU build on these machines; the training tests need it, so a failed
# install fails the run (under CI=true a test skipped for a missing real part fails too).
python3 -m pip install -q "torch==2.13.0"
# the 'link' extra (aalink): the Ableton Link tests need it, and under CI they fail without it
python3 -m pip install -q ".[test,link]"
# autoeq (a real consumer of our ParametricEQ.txt export) pins numpy~=1.24.4, so it gets its own
# venv, where tests/harness/consumers.py looks for it; a failed install fails the run.
AUTOEQ_VENV="${FLOWEQ_AUTOEQ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/floweq-tui-tests/autoeq-venv}"
if ! "$AUTOEQ_VENV/bin/python" -c "import autoeq.peq" 2>/dev/null; then
  python3 -m venv --clear "$AUTOEQ_VENV"
  "$AUTOEQ_VENV/bin/python" -m pip install -q "autoeq==4.1.2"
fi
# PYTHONSAFEPATH keeps the source tree off sys.path: the tests run the installed package.
PYTHONSAFEPATH=1 python3 -m pytest "$@"
