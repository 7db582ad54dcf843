#!/bin/sh
# install-deps.sh - installs the Debian packages docqa builds and tests with.
# Idempotent: checks each package first and is silent when nothing is missing.
# chromium, nodejs and a CJK font (for readable screenshots) run the web
# page's browser test (tests/browser, whose playwright-core needs node 20 with
# npm, as NodeSource's nodejs ships it; `make deps` runs npm ci there).
# python3-numpy runs scripts/lm_reference.py, the LLM engine's test oracle.
# --bench adds what bench/ compares against
# (mutool, pdftotext, GNU time, PyTorch, wrk, pandoc and LibreOffice Writer for
# the Office rows) and what scripts/ regenerate fixtures and samples with
# (python3-docx and python3-openpyxl write tests/fixtures/office/ and the
# Office bench corpus); --fuzz adds clang and libFuzzer for `make fuzz`;
# --package adds what builds and checks the Debian package (`make package`,
# `make package-test`). python3, groff, man-db and zsh write and check the man
# pages and completions; systemd's systemd-analyze checks the units.
set -eu

PACKAGES="build-essential cmake pkg-config
libmupdf-dev libfreetype-dev libharfbuzz-dev libjbig2dec0-dev libjpeg-dev libopenjp2-7-dev
libgumbo-dev libmujs-dev zlib1g-dev
libsqlite3-dev libfaiss-dev libopenblas-dev libcurl4-openssl-dev libcjson-dev libcriterion-dev
libmicrohttpd-dev chromium nodejs fonts-wqy-microhei libedit-dev libsentencepiece-dev
libtesseract-dev libleptonica-dev tesseract-ocr-chi-sim tesseract-ocr-eng
python3 groff-base man-db zsh systemd python3-numpy"
BENCH_PACKAGES="mupdf-tools poppler-utils time python3-torch python3-numpy wrk python3-sentencepiece
hyperfine git bc tesseract-ocr python3-docx python3-openpyxl pandoc libreoffice-writer-nogui"
# `make fuzz`: clang with libFuzzer and the sanitizer runtimes
FUZZ_PACKAGES="clang libclang-rt-14-dev"
# `make package`, `make package-test`: debhelper's dpkg-buildpackage, lintian
PACKAGE_PACKAGES="dpkg-dev debhelper lintian"

case "${1:-}" in
--bench) PACKAGES="$PACKAGES $BENCH_PACKAGES" ;;
--fuzz) PACKAGES="$PACKAGES $FUZZ_PACKAGES" ;;
--package) PACKAGES="$PACKAGES $PACKAGE_PACKAGES" ;;
"") ;;
*) echo "usage: install-deps.sh [--bench|--fuzz|--package]" >&2; exit 2 ;;
esac

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
