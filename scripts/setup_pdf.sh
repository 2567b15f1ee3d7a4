#!/usr/bin/env bash
# TeX Live from Debian for the book's PDF (`make book-pdf`): xelatex, latexmk,
# xindy and the GNU FreeFont fonts Sphinx's xelatex setup uses (they have Greek).
# Idempotent: does nothing when every package is installed. Not part of
# scripts/setup.sh, because TeX Live is large and only the PDF needs it.
set -euo pipefail
PACKAGES=(texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
          latexmk xindy fonts-freefont-otf tex-gyre)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup_pdf: TeX Live present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup_pdf: missing Debian packages: ${missing[*]}; run as root:" >&2
  echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "setup_pdf: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y --no-install-recommends "${missing[@]}"
