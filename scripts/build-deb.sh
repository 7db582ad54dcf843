#!/bin/sh
# build-deb.sh - builds docqa's Debian package from this tree with
# dpkg-buildpackage and checks it with lintian: `make package`.
# The tree is copied first (tracked and untracked files, none ignored), so a
# build leaves nothing behind in it, and the .deb lands in OUTDIR rather than in
# the tree's parent folder. The copy has no .git: the commit for --version
# travels in .docqa-commit (cmake/version.cmake).
# usage: build-deb.sh OUTDIR     (prints the path of the .deb on the last line)
set -eu
out=${1:?usage: build-deb.sh OUTDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree=$out/docqa-$version
rm -rf "$tree"
mkdir -p "$tree"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$tree" -xf -
# the copy lists files git knows; ones deleted from the work tree are skipped by tar: fine
commit=$(git -C "$src" rev-parse --short=12 HEAD)
[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
echo "$commit" >"$tree/.docqa-commit"

echo "build-deb: dpkg-buildpackage -b in $tree (log: $out/build.log)"
if ! (cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -b -uc -us) >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
    exit 1
fi
rm -rf "$tree"
deb=$(ls "$out"/docqa_"$version"_*.deb)
changes=$(ls "$out"/docqa_"$version"_*.changes)

# Tags left are explained in debian/docqa.lintian-overrides (or below); any
# other warning or error fails the build.
echo "build-deb: lintian $(basename "$changes")"
lintian --fail-on warning,error --info "$changes" >"$out/lintian.log" 2>&1 || {
    cat "$out/lintian.log" >&2
    echo "build-deb: lintian reports problems" >&2
    exit 1
}
cat "$out/lintian.log"
echo "$deb"
