#!/usr/bin/python3
"""longzh_corpus.py - writes a long-Chinese-manual retrieval set: look-alike manuals of 100+ pages, questions with their evidence page.

Usage: python3 bench/longzh_corpus.py CMRC_DIR OUT [--manuals N] [--pages P] [--seed S] [--twins]

CMRC_DIR is ../shared/eval/cmrc-dev-small (docs/cmrc-NNNN.txt, questions.jsonl).
The passages are shuffled (seeded) and dealt to N manuals (default 4); each
passage becomes one page of its manual, at a random place. Every manual has
P pages (default 125): a cover (the product name, model and version, which
differ between manuals only in the model number and year), the evidence
pages, and distractor pages up to P. A distractor page is built from the
sentences of the passages dealt to the OTHER manuals, so it reads like the
real pages (same topics, same vocabulary, same length) but never holds a
sentence of its own manual's evidence; sentences that contain any gold
answer of any question are left out of the distractors, so no distractor
can answer a question. Every page carries the same running head (manual
title and chapter) and footer (a notice and the page number), the
boilerplate that repeats on every page of a real manual.

Pages are separated by form feeds (docqa reads a text file's '\\f' as a page
break). questions.jsonl holds the CMRC questions unchanged, with "doc" the
manual's file name and "pages" the 1-based evidence page: the questions do
not name their manual, so the scope cannot help and ranking alone must find
the page among all manuals' pages.

--twins makes the manuals versions of each other, as a product line's are:
each manual also carries the evidence pages of the manual before it (in a
circle), with every gold answer cut out ("……"), in place of as many
distractor pages, and each question names its manual the way a user would
("在天工 T200 用户手册中，..."). Ranking alone cannot tell such a twin page
from the evidence page; the question's naming of the manual can.

Nothing here is tuned to docqa: page layout, sizes and the seed were fixed
before the first run, and the numbers are reported as they came out.
"""
import argparse
import json
import os
import random
import re

SERIES = "天工"
CHAPTERS = ["产品概述", "安全须知", "安装与连接", "基本操作", "高级功能", "维护保养",
            "故障排除", "技术规格", "附录"]
NOTICE = "本手册内容如有变更，恕不另行通知。版权所有，未经许可不得复制。"


def sentences(text):
    """Splits a passage after 。！？ keeping the mark; drops empty pieces."""
    parts = re.split(r"(?<=[。！？])", text.strip())
    return [p.strip() for p in parts if p.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmrc")
    ap.add_argument("out")
    ap.add_argument("--manuals", type=int, default=4)
    ap.add_argument("--pages", type=int, default=125)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--twins", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    docs_dir = os.path.join(a.cmrc, "docs")
    names = sorted(n for n in os.listdir(docs_dir) if n.endswith(".txt"))
    text = {n: open(os.path.join(docs_dir, n), encoding="utf-8").read().strip() for n in names}
    questions = [json.loads(l) for l in open(os.path.join(a.cmrc, "questions.jsonl"),
                                             encoding="utf-8") if l.strip()]
    answers = {ans for q in questions for ans in q["answers"] if len(ans) >= 2}

    rnd.shuffle(names)
    per = (len(names) + a.manuals - 1) // a.manuals
    groups = [names[i * per:(i + 1) * per] for i in range(a.manuals)]
    if a.pages < per + 1 + 10:
        raise SystemExit("longzh_corpus: --pages %d leaves too few distractor pages" % a.pages)

    os.makedirs(os.path.join(a.out, "manuals"), exist_ok=True)
    where = {}  # passage file -> (manual file, 1-based page)
    model_of = {}  # manual file -> its model name
    by_doc = {}
    for q in questions:
        by_doc.setdefault(q["doc"], []).extend(q["answers"])
    for m, group in enumerate(groups):
        model = "%s T%d00" % (SERIES, m + 1)
        title = "%s系列 %s 用户手册" % (SERIES, model)
        fname = "manual-t%d00.txt" % (m + 1)
        pool = [s for g in groups if g is not group for n in g for s in sentences(text[n])
                if not any(ans in s for ans in answers)]
        # page 1 is the cover; the evidence pages go to random places after it
        twins = groups[m - 1] if a.twins else []
        slots = rnd.sample(range(2, a.pages + 1), len(group) + len(twins))
        evidence = dict(zip(slots, group))
        twin_at = dict(zip(slots[len(group):], twins))
        model_of[fname] = model
        pages = []
        for p in range(1, a.pages + 1):
            chapter = CHAPTERS[min(len(CHAPTERS) - 1, (p - 1) * len(CHAPTERS) // a.pages)]
            head = "%s · 第%d章 %s" % (title, CHAPTERS.index(chapter) + 1, chapter)
            foot = "%s — 第 %d 页 —" % (NOTICE, p)
            if p == 1:
                body = "%s\n型号：%s\n版本：V%d.0（%d年%d月）\n%s" % (
                    title, model, m + 2, 2016 + m, 3 + m, NOTICE)
                pages.append(body + "\n")
                continue
            if p in evidence:
                body = text[evidence[p]]
                where[evidence[p]] = (fname, p)
            elif p in twin_at:
                body = text[twin_at[p]]
                for ans in sorted(by_doc[twin_at[p]], key=len, reverse=True):
                    body = body.replace(ans, "……")
            else:
                size = len(text[group[rnd.randrange(len(group))]])
                picked = []
                while sum(len(s) for s in picked) < size:
                    picked.append(pool[rnd.randrange(len(pool))])
                body = "".join(picked)
            pages.append("%s\n\n%s\n\n%s\n" % (head, body, foot))
        with open(os.path.join(a.out, "manuals", fname), "w", encoding="utf-8") as f:
            f.write("\f".join(pages))

    with open(os.path.join(a.out, "questions.jsonl"), "w", encoding="utf-8") as f:
        for q in questions:
            manual, page = where[q["doc"]]
            question = q["question"]
            if a.twins:
                question = "在%s用户手册中，%s" % (model_of[manual], question)
            f.write(json.dumps({"id": q["id"], "question": question, "answers": q["answers"],
                                "doc": manual, "pages": [page]}, ensure_ascii=False) + "\n")
    print("longzh: %d manuals of %d pages%s, %d questions in %s" % (
        a.manuals, a.pages, " (twins)" if a.twins else "", len(questions), a.out))


if __name__ == "__main__":
    main()
