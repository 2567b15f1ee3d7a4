#!/usr/bin/env bash
# Bring a Debian 12 machine from a clean clone to a working tree:
#   1. Debian packages: R 4.2 with lme4, nlme, geepack, glmmTMB, lmerTest,
#      pbkrtest, and what rpy2 needs to
#      build and link against it (skipped when all are installed);
#   2. the virtual environment .venv with the project and its dev + book
#      extras, pinned by constraints.txt (skipped while .venv/.setup-stamp is
#      newer than pyproject.toml and constraints.txt);
#   3. MathJax 3 from the npm registry into .cache/mathjax, for the offline
#      book (skipped when present).
# Idempotent; a second run does no work and takes well under 10 s.
# Environment: PYTHON=/path/to/python3.11 picks the interpreter for a new venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
t_start=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
say() { printf 'setup: %s\n' "$*"; }

# --- 1. Debian packages ---------------------------------------------------------
APT_PACKAGES=(
  r-base-core r-cran-lme4 r-cran-nlme r-cran-geepack libpcre2-dev
  # further engines and R's inference packages the validation suite compares with:
  r-cran-glmmtmb r-cran-lmertest r-cran-pbkrtest
  # rpy2-rinterface compiles against R and links these:
  libblas-dev liblapack-dev liblzma-dev libbz2-dev zlib1g-dev libtirpc-dev libicu-dev
)
command -v make >/dev/null 2>&1 || APT_PACKAGES+=(make)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
command -v gcc >/dev/null 2>&1 || APT_PACKAGES+=(gcc)

if [[ -n "${PYTHON:-}" ]]; then
  PY="$PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then
  PY=python3.11
else
  PY=python3
fi
if [[ ! -x .venv/bin/python ]] && [[ "$(command -v "$PY" || true)" == /usr/bin/* ]]; then
  # Debian's own Python needs these to make a venv and to build rpy2.
  "$PY" -c 'import ensurepip' >/dev/null 2>&1 || APT_PACKAGES+=(python3-venv)
  "$PY" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || APT_PACKAGES+=(python3-dev)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

t=$(now)
if ((${#missing[@]} == 0)); then
  apt_note="apt: all ${#APT_PACKAGES[@]} packages present"
else
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, then run this script again:" >&2
    echo "    apt-get update && DEBIAN_FRONTEND=noninteractive $cmd" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  $cmd
  apt_note="apt: installed ${#missing[@]} package(s) in $(since "$t")"
fi

# --- 2. virtual environment -----------------------------------------------------
STAMP=.venv/.setup-stamp
t=$(now)
if [[ -x .venv/bin/python && -f "$STAMP" && "$STAMP" -nt pyproject.toml && "$STAMP" -nt constraints.txt ]]; then
  venv_note="venv: up to date"
else
  if [[ ! -x .venv/bin/python ]]; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
      echo "setup: $PY is $("$PY" -V 2>&1); the project needs Python >= 3.11." \
           "Set PYTHON=/path/to/python3.11." >&2
      exit 1
    }
    say "creating .venv with $("$PY" -V 2>&1)"
    "$PY" -m venv .venv
  fi
  say "installing the project into .venv (pip, pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    -c constraints.txt -e '.[dev,book]'
  touch "$STAMP"
  venv_note="venv: installed in $(since "$t")"
fi

# --- 3. MathJax for the offline book ---------------------------------------------
MATHJAX=.cache/mathjax/node_modules/mathjax/es5/tex-mml-chtml.js
t=$(now)
if [[ -f "$MATHJAX" ]]; then
  mathjax_note="mathjax: present"
else
  say "installing MathJax 3 into .cache/mathjax (npm)"
  mkdir -p .cache/mathjax
  npm install --prefix .cache/mathjax --no-audit --no-fund --loglevel=error mathjax@3 >/dev/null
  [[ -f "$MATHJAX" ]] || { echo "setup: npm ran but $MATHJAX is missing" >&2; exit 1; }
  mathjax_note="mathjax: installed in $(since "$t")"
fi

say "done in $(since "$t_start") ($apt_note; $venv_note; $mathjax_note)"
