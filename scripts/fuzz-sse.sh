#!/bin/sh
# fuzz-sse.sh - builds tests/fuzz/sse_fuzz.c with clang's libFuzzer and
# AddressSanitizer and runs it for SECONDS (default 60) on a corpus seeded
# with llama-server, Ollama and vLLM stream shapes.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_=${1:-60}
OUT=${FUZZ_DIR:-/tmp/docqa-fuzz-sse}
mkdir -p "$OUT/corpus"
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I"$ROOT" \
    "$ROOT/tests/fuzz/sse_fuzz.c" "$ROOT/generate/sse.c" "$ROOT"/common/*.c -lm -o "$OUT/sse_fuzz"
printf 'data: {"choices":[{"delta":{"content":"\344\275\240"}}]}\n\ndata: [DONE]\n\n' > "$OUT/corpus/llama"
printf ': keep-alive\r\n\r\nevent: error\r\ndata: a\r\ndata: b\r\n\r\nerror: {"code":500}\n\n' > "$OUT/corpus/crlf"
printf 'data: x\rid: 1\rretry: 5\r\rdata' > "$OUT/corpus/cr"
"$OUT/sse_fuzz" -max_total_time="$SECONDS_" -max_len=512 "$OUT/corpus"
