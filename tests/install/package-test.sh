#!/bin/sh
# package-test.sh - the Debian package, end to end (`make package-test`, run by
# .ci/run): build it from the tree (scripts/build-deb.sh, lintian included),
# install it with apt (dpkg plus its Depends), run `docqa ingest` and `docqa
# ask` from the installed files on the bundled samples, check the man pages,
# completion and systemd units it put in place (`systemd-analyze verify`),
# then purge it and check that none of its files, nor the services' state, is
# left. Needs root (or sudo) and refuses to touch an installed docqa.
# DOCQA_DEB=<file> tests that .deb instead of building one.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if dpkg-query -W -f='${Status}' docqa 2>/dev/null | grep -q 'installed'; then
    echo "package-test: a docqa package is installed already; remove it first" >&2
    exit 1
fi
work=$(mktemp -d /tmp/docqa-package-test.XXXXXX)
installed=""
cleanup() {
    [ -z "$installed" ] || $SUDO dpkg --purge docqa >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package-test: $*" >&2; exit 1; }
start=$(date +%s)

if [ -n "${DOCQA_DEB:-}" ]; then
    deb=$DOCQA_DEB
else
    deb=$(sh "$src/scripts/build-deb.sh" "$work/out" | tail -n 1)
fi
built=$(date +%s)
version=$(dpkg-deb -f "$deb" Version)

# ---- install: apt resolves the Depends (present already on a build machine)
echo "package-test: installing $(basename "$deb")"
installed=yes
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail "apt-get install failed"; }
dpkg-query -L docqa >"$work/files"

# ---- the installed program answers from the samples
[ "$(command -v docqa)" = /usr/bin/docqa ] || fail "docqa on PATH is $(command -v docqa), not /usr/bin/docqa"
got=$(/usr/bin/docqa --version)
case "$got" in
"docqa ${version%%-*} (commit "*")") ;;
*) fail "docqa --version says '$got', the package is $version" ;;
esac
ldd /usr/bin/docqa | grep -q 'not found' && fail "unresolved libraries: $(ldd /usr/bin/docqa | grep 'not found')"
mkdir "$work/home"
cp "$src/samples/lease-zh.pdf" "$src/samples/manual-en.pdf" "$work/home/"
(
    cd "$work/home"
    export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
    unset DOCQA_STORE DOCQA_EMBED_MODEL DOCQA_EMBED_URL DOCQA_LLM_URL
    /usr/bin/docqa ingest --quiet lease-zh.pdf manual-en.pdf
    /usr/bin/docqa ask "合同的违约金是多少？" >"$work/ask-zh"
    /usr/bin/docqa ask --json "How long is the warranty period?" >"$work/ask-en"
) || fail "docqa ingest/ask from the installed files failed"
grep -q '违约金' "$work/ask-zh" && grep -q 'lease-zh.pdf p\. ' "$work/ask-zh" ||
    fail "the Chinese answer lacks the penalty or its citation: $(cat "$work/ask-zh")"
grep -q '"manual-en.pdf"' "$work/ask-en" || grep -q 'manual-en.pdf' "$work/ask-en" ||
    fail "the English answer does not cite manual-en.pdf: $(cat "$work/ask-en")"

# ---- what else it installed is where the tools look
for page in docqa docqa-ingest docqa-ask docqa-model docqa-serve; do
    man -w "$page" >/dev/null 2>&1 || fail "man cannot find $page(1)"
done
w=$(man --warnings=w docqa 2>&1 >/dev/null) || true
[ -z "$w" ] || fail "man docqa warns: $w"
[ -f /usr/share/bash-completion/completions/docqa ] || fail "no bash completion"
[ -f /usr/share/zsh/vendor-completions/_docqa ] || fail "no zsh completion"
getent passwd docqa >/dev/null || fail "postinst did not create the docqa user"
units="/lib/systemd/system/docqa-serve.service /lib/systemd/system/docqa-reindex.service
/lib/systemd/system/docqa-reindex.timer"
# shellcheck disable=SC2086
systemd-analyze verify $units >"$work/verify" 2>&1 || { cat "$work/verify" >&2; fail "systemd-analyze verify: system units"; }
[ ! -s "$work/verify" ] || { cat "$work/verify" >&2; fail "systemd-analyze verify complains about the system units"; }
user_units="/usr/lib/systemd/user/docqa-serve.service /usr/lib/systemd/user/docqa-reindex.service
/usr/lib/systemd/user/docqa-reindex.timer"
# shellcheck disable=SC2086
mkdir -m 700 "$work/runtime"
XDG_RUNTIME_DIR="$work/runtime" systemd-analyze --user verify $user_units >"$work/verify" 2>&1 || { cat "$work/verify" >&2; fail "systemd-analyze verify: user units"; }
[ ! -s "$work/verify" ] || { cat "$work/verify" >&2; fail "systemd-analyze verify complains about the user units"; }
systemd-analyze security --offline=true /lib/systemd/system/docqa-serve.service 2>/dev/null | tail -n 1 |
    sed 's/^/package-test: docqa-serve.service: /'

# ---- purge leaves nothing of it
$SUDO mkdir -p /var/lib/docqa/store /var/cache/docqa  # as the services would have made
$SUDO dpkg --purge docqa >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
installed=""
dpkg-query -W -f='${Status}' docqa 2>/dev/null | grep -q 'installed' && fail "docqa still installed after purge"
left=""
while read -r f; do
    [ -d "$f" ] && continue # shared folders (/usr/bin) stay
    { [ -e "$f" ] || [ -L "$f" ]; } && left="$left $f"
done <"$work/files"
for d in /usr/share/doc/docqa /var/lib/docqa /var/cache/docqa; do
    [ -e "$d" ] && left="$left $d"
done
[ -z "$left" ] || fail "left after purge:$left"
end=$(date +%s)
echo "package-test: ok (build $((built - start)) s, install/run/purge $((end - built)) s)"
