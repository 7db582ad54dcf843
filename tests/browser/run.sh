#!/bin/sh
# run.sh - the real-browser test of docqa serve's web page: a store of the
# sample documents, `docqa serve` on a free loopback port, then page_test.mjs
# drives Debian's chromium through it. Screenshots go to $3.
# Usage: run.sh <docqa binary> <source dir> <screenshot dir>
set -eu
bin=$1 src=$2 shots=$3
here=$src/tests/browser
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "run.sh: playwright-core is not installed; run 'make deps' (npm ci in tests/browser)" >&2
    exit 1
fi
work=$(mktemp -d /tmp/docqa-browser-XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
# No user config: answers are extractive whatever the machine's [llm] says.
export HOME="$work"
unset XDG_CONFIG_HOME DOCQA_LLM_URL DOCQA_STORE DOCQA_TOKEN
cp "$src/samples/lease-zh.pdf" "$src/samples/manual-en.pdf" "$src/samples/faq.md" "$work/"
cp "$src/tests/fixtures/office/deck.pptx" "$work/"
(cd "$work" && "$bin" --store "$work/.docqa" ingest -q lease-zh.pdf manual-en.pdf faq.md deck.pptx)
"$bin" --store "$work/.docqa" serve --port 0 2>"$work/serve.log" &
pid=$!
port=""
i=0
while [ -z "$port" ] && [ $i -lt 300 ]; do
    port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/serve.log" | head -1)
    [ -n "$port" ] || { sleep 0.1; i=$((i + 1)); }
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; echo "run.sh: docqa serve did not start" >&2; exit 1; }
node "$here/page_test.mjs" "http://127.0.0.1:$port/" "$shots"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
if [ "$status" -ne 0 ]; then
    cat "$work/serve.log" >&2
    echo "run.sh: docqa serve exited with $status after SIGTERM" >&2
    exit 1
fi
