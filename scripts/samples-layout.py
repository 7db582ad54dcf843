#!/usr/bin/env python3
# samples-layout.py - lays out a sample document source as `mutool create` pages.
#
# Usage: samples-layout.py SOURCE.src OUTDIR
# Writes OUTDIR/page-NNN.txt (PDF content streams with %%MediaBox/%%Font/%%CJKFont
# directives, one per page) and OUTDIR/expected.txt (every laid-out line, so
# make-samples.sh can check that the text comes back out of the PDF).
#
# Source format, one directive or text line per line:
#   %lang zh|en           Chinese text uses MuPDF's built-in CJK font (UniGB-UTF16-H,
#                         UTF-16BE hex strings); ASCII runs use Helvetica.
#   %header TEXT          running header on every page (a rule under it)
#   %footer TEXT          footer on every page; {page} and {pages} are replaced
#   %title TEXT           large title line; %subtitle TEXT a smaller one under it
#   %page                 page break
#   = TEXT / == TEXT      level-1 / level-2 heading
#   blank line            ends a paragraph; other lines join into the paragraph
#   {-}                   inside a word: a hyphenation point, used when the
#                         word does not fit on the line
# Only standard library: the line breaker estimates widths (CJK = 1 em,
# Helvetica from its AFM widths), which is all a ragged-right layout needs.
import os
import sys

PAGE_W, PAGE_H = 595, 842  # A4 in points
LEFT, RIGHT = 72, 595 - 72
TOP, BOTTOM = 768, 72

# Helvetica advance widths (1/1000 em) from the Adobe AFM; others default to 556.
HELV = {' ': 278, '!': 278, '"': 355, '#': 556, '$': 556, '%': 889, '&': 667, "'": 191,
        '(': 333, ')': 333, '*': 389, '+': 584, ',': 278, '-': 333, '.': 278, '/': 278,
        ':': 278, ';': 278, '<': 584, '=': 584, '>': 584, '?': 556, '@': 1015,
        'A': 667, 'B': 667, 'C': 722, 'D': 722, 'E': 667, 'F': 611, 'G': 778, 'H': 722,
        'I': 278, 'J': 500, 'K': 667, 'L': 556, 'M': 833, 'N': 722, 'O': 778, 'P': 667,
        'Q': 778, 'R': 722, 'S': 667, 'T': 611, 'U': 722, 'V': 667, 'W': 944, 'X': 667,
        'Y': 667, 'Z': 611, '[': 278, ']': 278, '_': 556,
        'a': 556, 'b': 556, 'c': 500, 'd': 556, 'e': 556, 'f': 278, 'g': 556, 'h': 556,
        'i': 222, 'j': 222, 'k': 500, 'l': 222, 'm': 833, 'n': 556, 'o': 556, 'p': 556,
        'q': 556, 'r': 333, 's': 500, 't': 278, 'u': 556, 'v': 500, 'w': 722, 'x': 500,
        'y': 500, 'z': 500, '\u00b0': 400, '\u2014': 1000, '\u2013': 556}

# Characters that must not start a line (Chinese line-breaking rules).
NO_START = set('，。、；：？！）》」』”’%,.;:?!)')

STYLE = {
    'zh': {'body': 11.5, 'lead': 17, 'h1': 15, 'h2': 12.5, 'title': 20, 'sub': 12,
           'indent': '\u3000\u3000', 'gap': 4},
    'en': {'body': 10.5, 'lead': 15, 'h1': 14, 'h2': 11.5, 'title': 20, 'sub': 12,
           'indent': '', 'gap': 6},
}


def is_wide(ch):
    return ord(ch) > 0x7f and ch not in HELV


def char_width(ch, size, bold=False):
    if is_wide(ch):
        return size
    return HELV.get(ch, 556) * size / 1000 * (1.05 if bold else 1.0)


def text_width(s, size, bold=False):
    return sum(char_width(c, size, bold) for c in s)


def tokens(text):
    """Breakable units: a CJK character, or a run of non-space ASCII (a word),
    or a space; '{-}' stands alone as a hyphenation point inside a word."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if text.startswith('{-}', i):
            out.append('{-}')
            i += 3
        elif ch == ' ':
            out.append(' ')
            i += 1
        elif is_wide(ch):
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] != ' ' and not is_wide(text[j]) \
                    and not text.startswith('{-}', j):
                j += 1
            out.append(text[i:j])
            i = j
    return out


def wrap(text, size, width, bold=False):
    """Greedy line breaking; returns the lines."""
    lines, cur, soft = [], '', False
    for t in tokens(text):
        if t == '{-}':
            soft = True
            continue
        if t == ' ' and not cur:
            continue
        if soft and text_width(cur + t, size, bold) > width:
            lines.append(cur + '-')  # hyphenate at the marked point
            cur = t
        elif text_width(cur + t, size, bold) <= width or not cur.strip() \
                or (len(t) == 1 and t in NO_START):
            # A closing mark may hang past the margin rather than start a line.
            cur += t
        else:
            lines.append(cur.rstrip())
            cur = '' if t == ' ' else t
        soft = False
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def pdf_latin(s):
    out = []
    for b in s.encode('cp1252'):
        c = chr(b)
        if c in '()\\':
            out.append('\\' + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append('\\%03o' % b)
    return '(' + ''.join(out) + ')'


def show(s, size, bold=False):
    """Text-showing operators for s inside BT..ET, switching between the CJK
    font and Helvetica so ASCII keeps its proportional widths."""
    ops, run, run_wide = [], '', None
    latin = '/HB' if bold else '/HV'

    def flush():
        if not run:
            return
        if run_wide:
            ops.append('/CJ %g Tf <%s> Tj' % (size, run.encode('utf-16-be').hex().upper()))
        else:
            ops.append('%s %g Tf %s Tj' % (latin, size, pdf_latin(run)))

    for ch in s:
        w = is_wide(ch)
        if run and w != run_wide:
            flush()
            run = ''
        run_wide = w
        run += ch
    flush()
    return ' '.join(ops)


class Layout:
    def __init__(self, lang):
        self.st = STYLE[lang]
        self.pages = []  # each a list of content-stream lines
        self.expected = []
        self.header = self.footer = ''
        self.y = None

    def new_page(self):
        self.pages.append([])
        self.y = TOP

    def line(self, text, size, x, bold=False):
        if self.y is None or self.y - size < BOTTOM:
            self.new_page()
        self.y -= size
        self.pages[-1].append('BT %g %g Td %s ET' % (x, self.y, show(text, size, bold)))
        self.expected.append(text)
        self.y -= self.st['lead'] - size

    def room(self, lines):
        return self.y is not None and self.y - lines * self.st['lead'] >= BOTTOM

    def paragraph(self, text, size=None, bold=False, indent=None, gap=None):
        size = size or self.st['body']
        # Chinese first-line indent is two ideographic spaces, as word
        # processors type it, so the line stays in its paragraph's block.
        indent = self.st['indent'] if indent is None else indent
        for ln in wrap(indent + text, size, RIGHT - LEFT, bold):
            self.line(ln, size, LEFT, bold)
        self.y -= self.st['gap'] if gap is None else gap

    def heading(self, text, level):
        if not self.room(4):  # keep a heading with its first lines
            self.new_page()
        size = self.st['h1'] if level == 1 else self.st['h2']
        self.y -= 8 if level == 1 else 3
        self.paragraph(text, size, bold=True, indent='', gap=3)

    def title(self, text, size):
        if self.y is None:
            self.new_page()
        x = (PAGE_W - text_width(text, size, True)) / 2
        self.line(text, size, x, bold=True)
        self.y -= 6

    def furniture(self):
        """Running header, rule and footer on every page, once the page count is known."""
        n = len(self.pages)
        for i, page in enumerate(self.pages):
            hs = 9
            page.insert(0, 'BT %g %g Td %s ET' % (LEFT, PAGE_H - 50, show(self.header, hs)))
            page.insert(1, '0.5 w %g %g m %g %g l S' % (LEFT, PAGE_H - 56, RIGHT, PAGE_H - 56))
            foot = self.footer.replace('{page}', str(i + 1)).replace('{pages}', str(n))
            fx = (PAGE_W - text_width(foot, hs)) / 2
            page.append('BT %g %g Td %s ET' % (fx, 40, show(foot, hs)))
            self.expected += [self.header, foot]


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: samples-layout.py SOURCE.src OUTDIR')
    src, outdir = sys.argv[1], sys.argv[2]
    with open(src, encoding='utf-8') as f:
        lines = f.read().split('\n')
    lang = 'en'
    for ln in lines:
        if ln.startswith('%lang '):
            lang = ln.split()[1]
    lay = Layout(lang)
    para = []

    def end_para():
        if para:
            sep = '' if lang == 'zh' else ' '
            lay.paragraph(sep.join(para))
            para.clear()

    for ln in lines:
        s = ln.strip()
        if s.startswith('%'):
            end_para()
            key, _, val = s.partition(' ')
            if key == '%header':
                lay.header = val
            elif key == '%footer':
                lay.footer = val
            elif key == '%title':
                lay.title(val, lay.st['title'])
            elif key == '%subtitle':
                lay.title(val, lay.st['sub'])
            elif key == '%page':
                lay.new_page()
        elif s.startswith('== '):
            end_para()
            lay.heading(s[3:], 2)
        elif s.startswith('= '):
            end_para()
            lay.heading(s[2:], 1)
        elif not s:
            end_para()
        else:
            para.append(s)
    end_para()
    lay.furniture()

    os.makedirs(outdir, exist_ok=True)
    for i, page in enumerate(lay.pages):
        with open(os.path.join(outdir, 'page-%03d.txt' % (i + 1)), 'w', encoding='ascii') as f:
            f.write('%%%%MediaBox 0 0 %d %d\n' % (PAGE_W, PAGE_H))
            f.write('%%CJKFont CJ zh-Hans H serif\n' if lang == 'zh' else '')
            f.write('%%Font HV Helvetica\n%%Font HB Helvetica-Bold\n')
            f.write('\n'.join(page) + '\n')
    with open(os.path.join(outdir, 'expected.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lay.expected) + '\n')


if __name__ == '__main__':
    main()
