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
# PYTHONSAFEPATH keeps the source tree off sys.path: the tests run the installed package.
PYTHONSAFEPATH=1 python3 -m pytest "$@"
