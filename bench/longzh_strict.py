#!/usr/bin/python3
"""longzh_strict.py - page hits of `docqa search` counted strictly, beside eval retrieval's.

Usage: python3 bench/longzh_strict.py DOCQA STORE QUESTIONS [K]

`docqa eval retrieval` counts a page hit when a top-k chunk of the gold
document spans an evidence page. A chunk may span two pages, so that count
is lenient by up to a page. This prints, for the same top-k search in BM25
mode, hit@1/5 and MRR@K of a chunk that (a) spans an evidence page, as eval
retrieval counts, (b) spans it and holds a gold answer, and (c) lies on the
evidence page alone.
"""
import json
import os
import subprocess
import sys


def main():
    docqa, store, qfile = sys.argv[1:4]
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    qs = [json.loads(l) for l in open(qfile, encoding="utf-8") if l.strip()]
    kinds = ("spans the page", "spans it, holds the answer", "on the page alone")
    first = {c: [] for c in kinds}
    for q in qs:
        out = subprocess.run([docqa, "--store", store, "search", "--json", "--mode", "bm25",
                              "-k", str(k), q["question"]], capture_output=True, text=True,
                             check=True).stdout
        ranks = {c: None for c in kinds}
        for i, h in enumerate(json.loads(out)["results"]):
            if os.path.basename(h["path"]) != q["doc"]:
                continue
            span = any(h["page_start"] <= p <= h["page_end"] for p in q["pages"])
            ok = {kinds[0]: span,
                  kinds[1]: span and any(a in h["text"] for a in q["answers"]),
                  kinds[2]: span and h["page_start"] == h["page_end"]}
            for c in kinds:
                if ok[c] and ranks[c] is None:
                    ranks[c] = i + 1
        for c in kinds:
            first[c].append(ranks[c])
    n = len(qs)
    print("%-28s %7s %7s %7s" % ("a top-k chunk that", "hit@1", "hit@5", "MRR@%d" % k))
    for c in kinds:
        r = first[c]
        print("%-28s %7.3f %7.3f %7.3f" % (
            c, sum(1 for x in r if x == 1) / n, sum(1 for x in r if x and x <= 5) / n,
            sum(1.0 / x for x in r if x) / n))


if __name__ == "__main__":
    main()
