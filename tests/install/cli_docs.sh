#!/bin/sh
# cli_docs.sh - the man pages and completions that scripts/gen-cli-docs.py wrote
# agree with docqa's --help: every command and option is in them, found by a
# parse of --help independent of the generator's; the pages render with no
# groff warning; bash completion completes commands, options, option values,
# model aliases, pulled models and paths; zsh and fish accept their files.
# usage: cli_docs.sh DOCQA SHARE_DIR   (SHARE_DIR: <build>/share)
set -eu
DOCQA=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARE=$(cd "$2" && pwd)
MAN=$SHARE/man
COMP=$SHARE/completion
fail=0
bad() { echo "cli_docs: $*" >&2; fail=1; }
export LC_ALL=C.UTF-8 MANWIDTH=200

# commands from 'docqa --help'; subcommands from each usage ('docqa model pull ...')
commands=$("$DOCQA" --help | sed -n '/^commands:/,/^$/s/^    \([a-z][a-z-]*\) .*/\1/p')
[ -n "$commands" ] || { echo "cli_docs: no commands in docqa --help" >&2; exit 1; }
long_opts() { sed -n 's/^    \(-[a-zA-Z0-9], \)\{0,1\}--\([a-z][a-z0-9-]*\).*/\2/p'; }

# each page rendered once, as man shows it, with groff's warnings on (-ww)
for f in "$MAN"/*.1; do
    name=$(basename "$f" .1)
    man -l --warnings=w "$f" >"$SHARE/$name.txt" 2>"$SHARE/$name.warnings" || bad "man -l failed on $f"
    [ ! -s "$SHARE/$name.warnings" ] || bad "man -l -ww warns on $name.1: $(cat "$SHARE/$name.warnings")"
    rm -f "$SHARE/$name.warnings"
done
for o in $("$DOCQA" --help | long_opts); do
    grep -q -- "--$o" "$SHARE/docqa.txt" || bad "docqa(1) lacks --$o"
done

for c in $commands; do
    page=$MAN/docqa-$c.1
    [ -f "$page" ] || { bad "no man page for '$c'"; continue; }
    grep -q "docqa-$c(1)" "$SHARE/docqa.txt" || bad "docqa(1) does not list '$c'"
    grep -q "^_docqa_$c()" "$COMP/_docqa" || bad "zsh completion lacks '$c'"
    grep -q -- "-a $c " "$COMP/docqa.fish" || bad "fish completion lacks '$c'"
    subs=$("$DOCQA" "$c" --help | sed -n "s/^\(usage\|   or\): docqa $c \([a-z][a-z-]*\).*/\2/p" | sort -u)
    for path in "$c" $(for s in $subs; do echo "$c/$s"; done); do
        # shellcheck disable=SC2046
        for o in $("$DOCQA" $(echo "$path" | tr / ' ') --help | long_opts); do
            grep -q -- "--$o\b" "$SHARE/docqa-$c.txt" || bad "docqa-$c(1) lacks --$o ($path)"
            grep -q -- "--$o\b" "$COMP/_docqa" || bad "zsh completion lacks --$o ($path)"
            grep -q -- "-l $o " "$COMP/docqa.fish" || bad "fish completion lacks --$o ($path)"
            printf '%s\n' "$path --$o" >>"$SHARE/expected-options"
        done
    done
done

# bash: drive the completion function as readline would
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT
mkdir -p "$store/cache/docqa/models/my-model" "$store/docs/sub"
: >"$store/docs/report.pdf"
bindir=$(dirname "$DOCQA")
out=$(cd "$store" && PATH="$bindir:$PATH" XDG_CACHE_HOME="$store/cache" bash -c '
    . "$1"; shift
    while IFS= read -r line; do
        set -f; set -- $line; set +f
        COMP_WORDS=(docqa "$@"); [ "${line% }" != "$line" ] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
        _docqa
        echo "$line => ${COMPREPLY[*]}"
    done' sh "$COMP/docqa.bash" <<'LINES'
in
ingest --ocr-l
ingest --ocr 
ingest docs/r
search --mode 
model 
model pull bge-small-z
model use 
model rm my
eval ceval --rag-
--store doc
LINES
) || bad "the bash completion failed"
expect() { printf '%s\n' "$out" | grep -qxF -- "$1" || bad "bash completion: want '$1', got: $(printf '%s\n' "$out" | grep -F -- "${1%% =>*} =>")"; }
expect "in => ingest index"
expect "ingest --ocr-l => --ocr-lang"
expect "ingest --ocr  => auto always never"
expect "ingest docs/r => docs/report.pdf"
expect "search --mode  => auto bm25 dense hybrid"
expect "model  => info pull list use rm"
expect "model pull bge-small-z => bge-small-zh-v1.5"
expect "model rm my => my-model"
expect "eval ceval --rag- => --rag-k"
expect "--store doc => docs"
printf '%s\n' "$out" | grep -q '^model use  => .*my-model' || bad "bash completion: 'model use' lacks the pulled model"
# every option --help lists completes in bash (one bash for all of them)
missing=$(PATH="$bindir:$PATH" bash -c '
    . "$1"
    while read -r path opt; do
        COMP_WORDS=(docqa ${path//\// } "$opt"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
        _docqa
        [[ " ${COMPREPLY[*]} " == *" $opt "* ]] || echo "docqa ${path//\// } $opt gives: ${COMPREPLY[*]}"
    done <"$2"' sh "$COMP/docqa.bash" "$SHARE/expected-options")
[ -z "$missing" ] || bad "bash completion: $missing"
rm -f "$SHARE/expected-options"

if command -v zsh >/dev/null 2>&1; then zsh -n "$COMP/_docqa" || bad "zsh rejects _docqa"; fi
if command -v fish >/dev/null 2>&1; then fish -n "$COMP/docqa.fish" || bad "fish rejects docqa.fish"; fi
bash -n "$COMP/docqa.bash" || bad "bash rejects docqa.bash"
[ $fail -eq 0 ] && echo "cli_docs: man pages and completions agree with --help"
exit $fail
