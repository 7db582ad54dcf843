#!/usr/bin/env python3
"""gen-cli-docs.py - docqa's man pages and bash/zsh/fish completions, written
from what a freshly built docqa prints for --help.

--help is the one source of truth: cli/options.c prints every subcommand's
option table in one fixed layout, and cli/main.c the command table. This
script runs `docqa --help`, `docqa <command> --help` and, for commands with
subcommands (`model pull`, `eval ceval`), `docqa <command> <sub> --help`,
parses that layout, and writes:

    <out>/man/docqa.1, <out>/man/docqa-<command>.1
    <out>/completion/docqa.bash, _docqa (zsh), docqa.fish

The prose the help does not carry (description, files, environment,
examples) is in docs/man/docqa.1.in, with @PLACEHOLDERS@ for the generated
parts. A layout this script cannot read is an error, not a silent omission:
tests/install/cli_docs.sh checks the output against --help again.

usage: gen-cli-docs.py --docqa BIN --prose DIR --source DIR --out DIR
       gen-cli-docs.py --docqa BIN --dump     (the parsed tables, as JSON)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

OPTION_RE = re.compile(
    r"^    (?:-(?P<short>\w)(?:, )?)?(?:--(?P<long>[\w][\w-]*))?(?: <(?P<arg>[^>]+)>)?\s{2,}(?P<help>\S.*)$"
)
COMMAND_RE = re.compile(r"^    (?P<name>[a-z][\w-]*)\s{2,}(?P<help>\S.*)$")


def run_help(docqa, args):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    r = subprocess.run([docqa] + args + ["--help"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("gen-cli-docs: 'docqa %s --help' exited %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def parse_command_help(text, path):
    """One subcommand's help (cli/options.c print_usage): usage lines, then
    option lines, grouped under unindented section titles."""
    lines = text.rstrip("\n").split("\n")
    usage, description, groups = [], [], [{"title": None, "options": []}]
    i = 0
    while i < len(lines) and (lines[i].startswith("usage: ") or lines[i].startswith("   or: ")):
        body = lines[i][7:]
        # a usage array may carry a paragraph of prose after the forms
        if body.startswith("docqa ") and not description:
            usage.append(body)
        elif body:
            description.append(body)
        elif description:
            description.append("")
        i += 1
    if not usage:
        sys.exit("gen-cli-docs: 'docqa %s --help' has no usage line" % path)
    for line in lines[i:]:
        if not line.strip():
            continue
        m = OPTION_RE.match(line)
        if m and (m.group("short") or m.group("long")):
            groups[-1]["options"].append(
                {"short": m.group("short"), "long": m.group("long"), "arg": m.group("arg"), "help": m.group("help")}
            )
        elif not line.startswith(" ") and line.endswith(":"):
            groups.append({"title": line, "options": []})
        else:
            # prose inside the help (eval's list of kinds): description, as laid out
            description.append(line)
    groups = [g for g in groups if g["options"] or g["title"]]
    return {"usage": usage, "description": description, "groups": groups}


def subcommand_names(cmd, usage):
    """`docqa model pull [-q] <name>` names a subcommand: a bare word after the command."""
    subs = []
    for u in usage:
        words = u.split()
        if len(words) >= 3 and words[1] == cmd and re.fullmatch(r"[a-z][\w-]*", words[2]):
            if words[2] not in subs:
                subs.append(words[2])
    return subs


def parse_main_help(text):
    commands, options, exit_text = [], [], ""
    section = None
    for line in text.split("\n"):
        if line == "commands:":
            section = "commands"
        elif line == "options:":
            section = "options"
        elif line.startswith("exit status:"):
            section = "exit"
            exit_text = line[len("exit status:"):].strip()
        elif section == "exit" and line.strip():
            exit_text += " " + line.strip()
        elif section == "commands" and COMMAND_RE.match(line):
            m = COMMAND_RE.match(line)
            commands.append({"name": m.group("name"), "help": m.group("help")})
        elif section == "options" and line.strip():
            m = OPTION_RE.match(line)
            if m and (m.group("short") or m.group("long")):
                options.append(
                    {"short": m.group("short"), "long": m.group("long"), "arg": m.group("arg"), "help": m.group("help")}
                )
            elif options and line.startswith("      "):
                options[-1]["help"] += " " + line.strip()
            else:
                section = None
    if not commands or not options or not exit_text:
        sys.exit("gen-cli-docs: 'docqa --help' lacks its commands, options or exit status")
    # "0 success, 1 error, 2 bad usage, 3 ingest ... (eval: ..., ...), 130 interrupted."
    statuses = [s.strip() for s in re.split(r",\s*(?=\d+ )", exit_text.rstrip("."))]
    exits = []
    for s in statuses:
        code, _, meaning = s.partition(" ")
        exits.append({"code": code, "meaning": meaning})
    return {"commands": commands, "options": options, "exit": exits}


def model_aliases(docqa):
    """The short names `model pull` knows: the first column of `model list --aliases`."""
    r = subprocess.run([docqa, "model", "list", "--aliases"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("gen-cli-docs: 'docqa model list --aliases' failed: %s" % r.stderr)
    rows = r.stdout.strip().split("\n")[1:]
    return [row.split()[0] for row in rows if row.strip()]


def collect(docqa):
    top = parse_main_help(run_help(docqa, []))
    for c in top["commands"]:
        c.update(parse_command_help(run_help(docqa, [c["name"]]), c["name"]))
        c["subs"] = []
        for s in subcommand_names(c["name"], c["usage"]):
            sub = parse_command_help(run_help(docqa, [c["name"], s]), c["name"] + " " + s)
            sub["name"] = s
            c["subs"].append(sub)
    top["aliases"] = model_aliases(docqa)
    return top


# ---- roff

def roff_text(s):
    s = s.replace("\\", "\\e")
    # options and other words that start with a dash are typed: a real minus
    s = re.sub(r"(?<![\w.])(--?)(?=[\w])", lambda m: "\\-" * len(m.group(1)), s)
    if s[:1] in (".", "'"):
        s = "\\&" + s
    return s


def roff_option(o):
    names = []
    if o["short"]:
        names.append("\\fB\\-%s\\fR" % o["short"])
    if o["long"]:
        names.append("\\fB\\-\\-%s\\fR" % o["long"])
    head = ", ".join(names)
    if o["arg"]:
        head += " \\fI%s\\fR" % roff_text(o["arg"])
    return ".TP\n%s\n%s\n" % (head, roff_text(o["help"]))


def roff_synopsis(usage):
    out = []
    for u in usage:
        rest = u[len("docqa "):]
        out.append(".SY docqa\n%s\n.YS\n" % roff_text(rest))
    return "".join(out)


def roff_groups(groups):
    out = []
    for g in groups:
        if g["title"]:
            out.append('.SS "%s"\n' % roff_text(g["title"].rstrip(":")).replace('"', "'"))
        for o in g["options"]:
            out.append(roff_option(o))
    return "".join(out)


def roff_paragraphs(lines):
    """Help prose: paragraphs, and "    name   what it is" lines as a tagged list."""
    out, para = [], []

    def flush():
        if para:
            out.append(".PP\n%s\n" % roff_text(" ".join(" ".join(para).split())))
            para.clear()

    for line in lines:
        m = COMMAND_RE.match(line)
        if m:
            flush()
            out.append(".TP\n.B %s\n%s\n" % (m.group("name"), roff_text(m.group("help"))))
        elif not line.strip():
            flush()
        elif line.startswith("      ") and out and out[-1].startswith(".TP"):
            out[-1] += roff_text(line.strip()) + "\n"
        else:
            para.append(line)
    flush()
    return "".join(out)


def th(name, date, version):
    return '.TH %s 1 "%s" "docqa %s" "User Commands"\n' % (name.upper().replace("-", "\\-"), date, version)


def command_page(c, date, version):
    name = "docqa-" + c["name"]
    out = [th(name, date, version), ".SH NAME\n%s \\- %s\n" % (name.replace("-", "\\-"), roff_text(c["help"]))]
    usage = list(c["usage"])
    for s in c["subs"]:
        usage += [u for u in s["usage"] if u not in usage]
    out.append(".SH SYNOPSIS\n" + roff_synopsis(usage))
    out.append(".SH DESCRIPTION\n.PP\n%s.\n" % roff_text(c["help"][0].upper() + c["help"][1:]))
    out.append(roff_paragraphs(c["description"]))
    out.append(".PP\nOptions and arguments may come in any order; \\fB\\-\\-\\fR ends the options. "
               "Every option that takes a value also accepts it as \\fB\\-\\-option=\\fIvalue\\fR.\n")
    if any(g["options"] for g in c["groups"]):
        out.append(".SH OPTIONS\n" + roff_groups(c["groups"]))
    subs = [s for s in c["subs"] if s["usage"] != c["usage"]]
    if subs:
        out.append(".SH SUBCOMMANDS\n")
        for s in subs:
            out.append('.SS "%s %s"\n' % (c["name"], s["name"]))
            for u in s["usage"]:
                out.append(".PP\n\\fBdocqa\\fR %s\n" % roff_text(u[len("docqa "):]))
            out.append(roff_paragraphs(s["description"]))
            for g in s["groups"]:
                if g["title"]:
                    out.append(".PP\n%s\n" % roff_text(g["title"]))
                for o in g["options"]:
                    out.append(roff_option(o))
    out.append(".SH EXIT STATUS\n.PP\nAs listed in \\fBdocqa\\fR(1).\n")
    out.append(".SH SEE ALSO\n.PP\n\\fBdocqa\\fR(1)\n")
    return "".join(out)


def main_page(top, template, date, version):
    cmds = "".join(".TP\n\\fBdocqa\\-%s\\fR(1)\n%s\n" % (c["name"], roff_text(c["help"])) for c in top["commands"])
    opts = "".join(roff_option(o) for o in top["options"])
    exits = "".join(".TP\n.B %s\n%s\n" % (e["code"], roff_text(e["meaning"])) for e in top["exit"])
    see = ",\n".join("\\fBdocqa\\-%s\\fR(1)" % c["name"] for c in top["commands"])
    aliases = ", ".join("\\fB%s\\fR" % roff_text(a) for a in top["aliases"])
    text = template
    for key, value in (("@TH@", th("docqa", date, version).rstrip("\n")), ("@COMMANDS@", cmds.rstrip("\n")),
                       ("@OPTIONS@", opts.rstrip("\n")), ("@EXIT_STATUS@", exits.rstrip("\n")),
                       ("@SEE_ALSO_COMMANDS@", see), ("@MODEL_ALIASES@", aliases)):
        if key not in text:
            sys.exit("gen-cli-docs: docqa.1.in lacks %s" % key)
        text = text.replace(key, value)
    return text


# ---- completions

def all_paths(top):
    """(path words, parsed help) for every command and subcommand."""
    for c in top["commands"]:
        yield [c["name"]], c
        for s in c["subs"]:
            yield [c["name"], s["name"]], s


def options_of(h):
    return [o for g in h["groups"] for o in g["options"]]


def values_in_help(help_text):
    """An option whose help lists its values ("auto, bm25, dense or hybrid")."""
    plain = re.sub(r"\s*\([^)]*\)", "", help_text)
    m = re.search(r"(?:^|: )([a-z0-9]+(?:, [a-z0-9]+)+(?:,? or [a-z0-9]+)?)(?::|$)", plain)
    if not m:
        return None
    return re.split(r",? or |, ", m.group(1))


def arg_kind(o):
    """What completes an option's value: dir, file, a list of words, or nothing."""
    if not o["arg"]:
        return None
    if o["arg"] == "dir":
        return ("dir",)
    if o["arg"] in ("file", "path", "questions.jsonl", "dir-or-csv"):
        return ("file",)
    values = values_in_help(o["help"])
    return ("words", values) if values else ("none",)


def positional_kind(path, usage):
    """What completes a command's arguments, read from its usage line."""
    text = " ".join(u.split(None, 1 + len(path))[-1] for u in usage if len(u.split()) > len(path))
    if path == ["model", "pull"]:
        return "aliases"  # `model pull <name>`: the names `model list --aliases` prints
    if "<name" in text or "|name>" in text:
        return "models+dirs" if "dir" in text else "models"
    if re.search(r"<(path|dir|file|[\w.-]*csv|[\w.-]*jsonl)", text):
        return "files"
    return "none"


def option_names(o):
    return (["-" + o["short"]] if o["short"] else []) + (["--" + o["long"]] if o["long"] else [])


def bash_completion(top):
    """A table function (_docqa_table KIND:COMMAND) the fixed completion logic reads."""
    case = [
        "    opts:) echo '%s' ;;" % " ".join(n for o in top["options"] for n in option_names(o)),
        "    cmds:) echo '%s' ;;" % " ".join(c["name"] for c in top["commands"]),
        "    aliases:) echo '%s' ;;" % " ".join(top["aliases"]),
    ]
    for path, h in all_paths(top):
        key = " ".join(path)
        opts = options_of(h)
        if opts or len(path) == 2:
            names = [n for o in opts for n in option_names(o)]
            case.append("    'opts:%s') echo '%s' ;;" % (key, " ".join(names + ["--help"])))
        subs = [s["name"] for s in h.get("subs", [])]
        if subs:
            case.append("    'subs:%s') echo '%s' ;;" % (key, " ".join(subs)))
        case.append("    'args:%s') echo '%s' ;;" % (key, positional_kind(path, h["usage"])))
        for o in opts:
            kind = arg_kind(o)
            if kind:
                value = kind[0] if kind[0] != "words" else "words " + " ".join(kind[1])
                for n in option_names(o):
                    case.append("    'value:%s %s') echo '%s' ;;" % (key, n, value))
    lines = ["# bash completion for docqa - written by scripts/gen-cli-docs.py from docqa --help", "",
             "# _docqa_table KIND:COMMAND [OPTION] - the words docqa's --help lists",
             "_docqa_table()\n{\n    case \"$1\" in"] + case + ["    esac\n}", BASH_BODY]
    return "\n".join(lines) + "\n"


BASH_BODY = r'''
# the models `docqa model list` shows as pulled
_docqa_pulled()
{
    docqa model list 2>/dev/null | awk '/^models in /{getline; on=1; next} on && NF {print $1}'
}

_docqa_complete_words()
{
    local IFS=$' \t\n'
    COMPREPLY+=($(compgen -W "$1" -- "$cur"))
}

_docqa()
{
    local cur prev words cword
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    COMPREPLY=()

    local i cmd="" sub="" w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -z $cmd ]]; then
            case $w in
            --store) ((i++)) ;;
            -*) ;;
            *) cmd=$w ;;
            esac
        elif [[ -z $sub && -n $(_docqa_table "subs:$cmd") ]]; then
            [[ $w != -* ]] && sub=$w
        fi
    done
    local path=$cmd${sub:+ $sub}

    if [[ -z $cmd ]]; then
        if [[ $prev == --store ]]; then
            COMPREPLY=($(compgen -d -- "$cur"))
        elif [[ $cur == -* ]]; then
            _docqa_complete_words "$(_docqa_table opts:)"
        else
            _docqa_complete_words "$(_docqa_table cmds:)"
        fi
        return
    fi

    local value
    value=$(_docqa_table "value:$path $prev")
    case $value in
    dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    file) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
    words\ *) _docqa_complete_words "${value#words }"; return ;;
    none) return ;;
    esac

    if [[ $cur == -* ]]; then
        _docqa_complete_words "$(_docqa_table "opts:$path")"
        return
    fi
    if [[ -z $sub && -n $(_docqa_table "subs:$cmd") ]]; then
        _docqa_complete_words "$(_docqa_table "subs:$cmd")"
        return
    fi
    case $(_docqa_table "args:$path") in
    files) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
    aliases) _docqa_complete_words "$(_docqa_table aliases:)" ;;
    models) _docqa_complete_words "$(_docqa_pulled)" ;;
    models+dirs)
        _docqa_complete_words "$(_docqa_pulled)"
        COMPREPLY+=($(compgen -d -- "$cur"))
        compopt -o filenames 2>/dev/null
        ;;
    esac
}
complete -F _docqa docqa'''


def zsh_quote(s):
    return s.replace("'", "'\\''")


def zsh_desc(s):
    return zsh_quote(s.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:"))


def zsh_action(kind):
    if not kind:
        return ""
    if kind[0] == "dir":
        return "_files -/"
    if kind[0] == "file":
        return "_files"
    if kind[0] == "words":
        return "(%s)" % " ".join(kind[1])
    return " "


def zsh_specs(opts):
    specs = []
    for o in opts:
        desc = zsh_desc(o["help"])
        kind = arg_kind(o)
        tail = ""
        if o["arg"]:
            tail = ":%s:%s" % (zsh_desc(o["arg"]), zsh_action(kind))
        eq = "=" if o["arg"] else ""
        if o["short"] and o["long"]:
            excl = "(-%s --%s)" % (o["short"], o["long"])
            specs.append("'%s'{-%s,--%s%s}'[%s]%s'" % (excl, o["short"], o["long"], eq, desc, tail))
        elif o["long"]:
            specs.append("'--%s%s[%s]%s'" % (o["long"], eq, desc, tail))
        else:
            specs.append("'-%s[%s]%s'" % (o["short"], desc, tail))
    specs.append("'(- *)'{-h,--help}'[show the help]'")
    return specs


ZSH_ARGS = {
    "files": "'*:file:_files'",
    "aliases": "'1:model:(%s)'",
    "models": "'1:model:_docqa_pulled'",
    "models+dirs": "'1:model or folder:_alternative \"models\\:model\\:_docqa_pulled\" \"dirs\\:folder\\:_files -/\"'",
    "none": None,
}


def zsh_completion(top):
    out = ["#compdef docqa", "# zsh completion for docqa - written by scripts/gen-cli-docs.py from docqa --help", ""]
    out.append("_docqa_pulled() {")
    out.append("  local -a names")
    out.append("  names=(${(f)\"$(docqa model list 2>/dev/null | awk '/^models in /{getline; on=1; next} on && NF {print $1}')\"})")
    out.append("  compadd -a names")
    out.append("}")
    out.append("")
    aliases = " ".join(top["aliases"])
    for path, h in all_paths(top):
        fn = "_docqa_" + "_".join(p.replace("-", "_") for p in path)
        out.append("%s() {" % fn)
        specs = zsh_specs(options_of(h))
        subs = h.get("subs", [])
        if subs and any(s["groups"] or s["usage"] != h["usage"] for s in subs):
            out.append("  local curcontext=$curcontext state line")
            out.append("  _arguments -C \\")
            out.append("    '1:subcommand:(%s)' \\" % " ".join(s["name"] for s in subs))
            out.append("    '*::arg:->sub'")
            out.append("  case $words[1] in")
            for s in subs:
                out.append("  %s) %s_%s ;;" % (s["name"], fn, s["name"].replace("-", "_")))
            out.append("  esac")
        else:
            if subs:
                specs.append("'1:subcommand:(%s)'" % " ".join(s["name"] for s in subs))
            kind = positional_kind(path, h["usage"])
            arg = ZSH_ARGS[kind]
            if arg and "%s" in arg:
                arg = arg % aliases
            if arg and not subs:
                specs.append(arg)
            out.append("  _arguments -s -S \\")
            out.append(" \\\n".join("    " + s for s in specs))
        out.append("}")
        out.append("")
    out.append("_docqa() {")
    out.append("  local curcontext=$curcontext state line")
    out.append("  local -a commands")
    out.append("  commands=(")
    for c in top["commands"]:
        out.append("    '%s:%s'" % (c["name"], zsh_quote(c["help"]).replace(":", "\\:")))
    out.append("  )")
    out.append("  _arguments -C \\")
    out.append(" \\\n".join("    " + s for s in zsh_specs(top["options"])[:-1]) + " \\")
    out.append("    '(- *)'{-h,--help}'[show the help]' \\")
    out.append("    '1:command:->command' \\")
    out.append("    '*::arg:->args'")
    out.append("  case $state in")
    out.append("  command) _describe -t commands 'docqa command' commands ;;")
    out.append("  args)")
    out.append("    case $words[1] in")
    for c in top["commands"]:
        out.append("    %s) _docqa_%s ;;" % (c["name"], c["name"].replace("-", "_")))
    out.append("    esac ;;")
    out.append("  esac")
    out.append("}")
    out.append("")
    out.append('_docqa "$@"')
    return "\n".join(out) + "\n"


def fish_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_completion(top):
    out = ["# fish completion for docqa - written by scripts/gen-cli-docs.py from docqa --help", ""]
    cmds = " ".join(c["name"] for c in top["commands"])
    out.append("function __docqa_pulled")
    out.append("    docqa model list 2>/dev/null | awk '/^models in /{getline; on=1; next} on && NF {print $1}'")
    out.append("end")
    out.append("complete -c docqa -f")
    for o in top["options"]:
        out.append(fish_option("__fish_use_subcommand", o))
    for c in top["commands"]:
        out.append("complete -c docqa -n __fish_use_subcommand -a %s -d %s" % (c["name"], fish_quote(c["help"])))
    for path, h in all_paths(top):
        if len(path) == 1:
            cond = "__fish_seen_subcommand_from %s" % path[0]
            subs = h.get("subs", [])
            if subs and any(s["groups"] or s["usage"] != h["usage"] for s in subs):
                names = " ".join(s["name"] for s in subs)
                cond_nosub = "%s; and not __fish_seen_subcommand_from %s" % (cond, names)
                out.append("complete -c docqa -n %s -a %s" % (fish_quote(cond_nosub), fish_quote(names)))
                continue
            if subs:
                names = " ".join(s["name"] for s in subs)
                out.append("complete -c docqa -n %s -a %s" % (fish_quote(cond), fish_quote(names)))
        else:
            cond = "__fish_seen_subcommand_from %s; and __fish_seen_subcommand_from %s" % (path[0], path[1])
        for o in options_of(h):
            out.append(fish_option(cond, o))
        kind = positional_kind(path, h["usage"])
        if kind == "files":
            out.append("complete -c docqa -n %s -F" % fish_quote(cond))
        elif kind == "aliases":
            out.append("complete -c docqa -n %s -a %s" % (fish_quote(cond), fish_quote(" ".join(top["aliases"]))))
        elif kind.startswith("models"):
            out.append("complete -c docqa -n %s -a '(__docqa_pulled)'" % fish_quote(cond))
            if kind == "models+dirs":
                out.append("complete -c docqa -n %s -a '(__fish_complete_directories)'" % fish_quote(cond))
    return "\n".join(out) + "\n"


def fish_option(cond, o):
    parts = ["complete -c docqa -n %s" % fish_quote(cond)]
    if o["short"]:
        parts.append("-s %s" % o["short"])
    if o["long"]:
        parts.append("-l %s" % o["long"])
    kind = arg_kind(o)
    if kind:
        parts.append("-r")
        if kind[0] == "dir":
            parts.append("-a '(__fish_complete_directories)'")
        elif kind[0] == "file":
            parts.append("-F")
        elif kind[0] == "words":
            parts.append("-a %s" % fish_quote(" ".join(kind[1])))
    parts.append("-d %s" % fish_quote(o["help"]))
    return " ".join(parts)


def build_date(source):
    """SOURCE_DATE_EPOCH, else the last commit's date: the same tree gives the same pages."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch and source:
        r = subprocess.run(["git", "-C", source, "log", "-1", "--format=%ct"], capture_output=True, text=True)
        epoch = r.stdout.strip() if r.returncode == 0 else None
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch else ""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docqa", required=True)
    ap.add_argument("--prose")
    ap.add_argument("--source")
    ap.add_argument("--out")
    ap.add_argument("--dump", action="store_true")
    a = ap.parse_args()
    top = collect(a.docqa)
    if a.dump:
        json.dump(top, sys.stdout, indent=1, ensure_ascii=False)
        return
    version = subprocess.run([a.docqa, "--version"], capture_output=True, text=True).stdout.split()[1]
    date = build_date(a.source)
    with open(os.path.join(a.prose, "docqa.1.in"), encoding="utf-8") as f:
        template = f.read()
    write(os.path.join(a.out, "man", "docqa.1"), main_page(top, template, date, version))
    for c in top["commands"]:
        write(os.path.join(a.out, "man", "docqa-%s.1" % c["name"]), command_page(c, date, version))
    write(os.path.join(a.out, "completion", "docqa.bash"), bash_completion(top))
    write(os.path.join(a.out, "completion", "_docqa"), zsh_completion(top))
    write(os.path.join(a.out, "completion", "docqa.fish"), fish_completion(top))


if __name__ == "__main__":
    main()
