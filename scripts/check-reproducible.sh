#!/bin/sh
# check-reproducible.sh - builds docqa twice from this tree, in two build
# folders with different paths and no compiler cache, and checks that the two
# binaries are byte-identical (`make reproducible-check`; about twice a Release
# build's time, so not part of make test).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/docqa-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
for d in a long/other/path; do
    CCACHE_DISABLE=1 cmake -S "$src" -B "$work/$d" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DDOCQA_CUDA=OFF >/dev/null
    CCACHE_DISABLE=1 cmake --build "$work/$d" -j "$(nproc)" --target docqa >/dev/null
done
sha256sum "$work/a/docqa" "$work/long/other/path/docqa"
if cmp -s "$work/a/docqa" "$work/long/other/path/docqa"; then
    echo "reproducible: the two builds are byte-identical"
else
    echo "reproducible: the two builds differ" >&2
    exit 1
fi
