#!/bin/sh
# make-samples.sh - regenerates the sample documents in samples/ from samples/src/.
#
# Each samples/src/NAME.src with a %lang line becomes samples/NAME.pdf: laid out
# by scripts/samples-layout.py into `mutool create` content-stream pages, then
# read back with `mutool draw -F txt` to check that every laid-out line
# (Chinese included) round-trips. samples/src/notice-gb18030.src (UTF-8) becomes
# samples/notice-gb18030.txt in GB18030 with CRLF line ends, as Windows
# Notepad would save it. Output is deterministic: rerunning changes nothing.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/samples/src"
out="$root/samples"
for tool in mutool python3 iconv; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make-samples: '$tool' not found (run scripts/install-deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

for f in "$src"/*.src; do
    name=$(basename "$f" .src)
    grep -q '^%lang ' "$f" || continue
    pages="$tmp/$name"
    python3 "$root/scripts/samples-layout.py" "$f" "$pages"
    mutool create -O compress -o "$out/$name.pdf" "$pages"/page-*.txt
    mutool draw -q -F txt -o "$pages/back.txt" "$out/$name.pdf" 2>/dev/null
    # Whitespace differs (MuPDF's spacing, U+3000 indents), the text must not.
    python3 - "$pages/expected.txt" "$pages/back.txt" "$name" <<'EOF'
import sys
exp, back, name = sys.argv[1:]
squash = lambda s: ''.join(s.split())
got = squash(open(back, encoding='utf-8').read())
missing = [ln for ln in open(exp, encoding='utf-8').read().splitlines() if squash(ln) not in got]
if missing:
    sys.exit('make-samples: %s.pdf: text does not round-trip, e.g. %r' % (name, missing[0]))
EOF
    set -- "$pages"/page-*.txt
    echo "samples/$name.pdf: $# pages, text round-trips"
done

sed 's/$/\r/' "$src/notice-gb18030.src" | iconv -f UTF-8 -t GB18030 >"$out/notice-gb18030.txt"
echo "samples/notice-gb18030.txt: GB18030, CRLF"
