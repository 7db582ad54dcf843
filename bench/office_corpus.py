#!/usr/bin/python3
"""office_corpus.py - writes the Office benchmark corpus into a folder: DOCX and ODT of the same text, XLSX, PPTX.

Usage: /usr/bin/python3 bench/office_corpus.py OUT [SCALE]

The text is deterministic (a fixed seed) Chinese and English contract and
report prose: chapters with Heading 1/2, numbered clauses, a table per
chapter. Each DOCX is written with python3-docx and has an ODT twin with the
same paragraphs written by hand (content.xml), so a converter that reads
only one of the two formats still runs on the same text. The XLSX files
(python3-openpyxl) are price lists with numbers and dates; the PPTX decks
are written by hand. SCALE multiplies the number of files (default 3).
"""
import datetime
import os
import random
import sys
import zipfile
from xml.sax.saxutils import escape

import docx
import openpyxl

ZH = ("本合同由甲方与乙方于签订之日起生效双方应当遵守国家法律法规及本合同约定的各项条款"
      "租金按月支付逾期未付的应按日支付违约金乙方不得擅自转租或改变房屋用途"
      "如发生争议双方应友好协商解决协商不成的可向房屋所在地人民法院提起诉讼")
EN = ("the tenant shall pay the rent on the first business day of each month and keep the "
      "premises in good repair while the landlord remains responsible for structural defects "
      "and insurance of the building against fire flood and other listed risks").split()


def zh_sentence(rng):
    n = rng.randint(18, 60)
    start = rng.randint(0, len(ZH) - n)
    return ZH[start:start + n] + "。"


def en_sentence(rng):
    words = [rng.choice(EN) for _ in range(rng.randint(10, 30))]
    return " ".join(words).capitalize() + "."


def paragraph(rng):
    if rng.random() < 0.5:
        return "".join(zh_sentence(rng) for _ in range(rng.randint(2, 5)))
    return " ".join(en_sentence(rng) for _ in range(rng.randint(2, 5)))


def document(rng, chapters=12, paras=24):
    """[(kind, payload)]: ('h', level, text), ('p', text), ('t', rows)."""
    out = []
    for c in range(1, chapters + 1):
        out.append(("h", 1, f"第{c}章 Chapter {c}"))
        for s in range(1, 4):
            out.append(("h", 2, f"{c}.{s} 条款 Clause {c}.{s}"))
            for _ in range(paras // 3):
                out.append(("p", paragraph(rng)))
        rows = [["项目 Item", "2023", "2024"]]
        for r in range(8):
            rows.append([f"费用 {r + 1}", f"{rng.randint(100, 99999):,}", f"{rng.randint(100, 99999):,}"])
        out.append(("t", rows))
    return out


def write_docx(path, doc):
    d = docx.Document()
    for item in doc:
        if item[0] == "h":
            d.add_heading(item[2], level=item[1])
        elif item[0] == "p":
            d.add_paragraph(item[1])
        else:
            rows = item[1]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for i, row in enumerate(rows):
                for j, v in enumerate(row):
                    t.cell(i, j).text = v
    d.save(path)


def write_odt(path, doc):
    body = []
    for item in doc:
        if item[0] == "h":
            body.append(f'<text:h text:outline-level="{item[1]}">{escape(item[2])}</text:h>')
        elif item[0] == "p":
            body.append(f"<text:p>{escape(item[1])}</text:p>")
        else:
            body.append('<table:table table:name="t">' + "".join(
                "<table:table-row>" + "".join(
                    f"<table:table-cell><text:p>{escape(v)}</text:p></table:table-cell>" for v in row)
                + "</table:table-row>" for row in item[1]) + "</table:table>")
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
               f'<office:body><office:text>{"".join(body)}</office:text></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("styles.xml", f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ns} '
                   'office:version="1.2"><office:styles/><office:automatic-styles/>'
                   '<office:master-styles/></office:document-styles>', zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)


def write_xlsx(path, rng, rows=3000):
    wb = openpyxl.Workbook()
    for k, name in enumerate(["报价单", "Inventory"]):
        ws = wb.active if k == 0 else wb.create_sheet(name)
        ws.title = name
        ws.append(["产品 Product", "单价 Price", "日期 Date", "数量 Qty", "备注 Note"])
        for i in range(rows):
            ws.append([f"钢材 steel {i}", rng.uniform(10, 9999), datetime.date(2024, 1, 1) +
                       datetime.timedelta(days=i % 365), rng.randint(1, 5000), paragraph(rng)[:40]])
        for row in ws.iter_rows(min_row=2):
            row[1].number_format = "#,##0.00"
            row[2].number_format = 'yyyy"年"m"月"d"日"'
    wb.save(path)


def write_pptx(path, rng, slides=60):
    P = ('xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
         'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
         'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
    REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    RNS = "http://schemas.openxmlformats.org/package/2006/relationships"

    def sp(texts, ph=None):
        phx = f'<p:ph type="{ph}"/>' if ph else ""
        paras = "".join(f"<a:p><a:r><a:t>{escape(t)}</a:t></a:r></a:p>" for t in texts)
        return (f'<p:sp><p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr>{phx}</p:nvPr></p:nvSpPr>'
                f"<p:spPr/><p:txBody><a:bodyPr/>{paras}</p:txBody></p:sp>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("_rels/.rels", f'<Relationships xmlns="{RNS}"><Relationship Id="r1" '
                   f'Type="{REL}/officeDocument" Target="ppt/presentation.xml"/></Relationships>')
        ids = "".join(f'<p:sldId id="{256 + i}" r:id="s{i}"/>' for i in range(slides))
        z.writestr("ppt/presentation.xml", f"<p:presentation {P}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>")
        rels = "".join(f'<Relationship Id="s{i}" Type="{REL}/slide" Target="slides/slide{i}.xml"/>'
                       for i in range(slides))
        z.writestr("ppt/_rels/presentation.xml.rels", f'<Relationships xmlns="{RNS}">{rels}</Relationships>')
        for i in range(slides):
            shapes = sp([f"第{i + 1}页 Slide {i + 1}"], "title") + sp([paragraph(rng)[:200] for _ in range(4)])
            z.writestr(f"ppt/slides/slide{i}.xml",
                       f"<p:sld {P}><p:cSld><p:spTree>{shapes}</p:spTree></p:cSld></p:sld>")


def main():
    out = sys.argv[1]
    scale = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.makedirs(out, exist_ok=True)
    rng = random.Random(24)
    for i in range(8 * scale):
        doc = document(rng)
        write_docx(os.path.join(out, f"contract{i:02d}.docx"), doc)
        # a name of its own: converters write NAME.txt for both twins
        write_odt(os.path.join(out, f"contract{i:02d}-odt.odt"), doc)
    for i in range(2 * scale):
        write_xlsx(os.path.join(out, f"prices{i:02d}.xlsx"), rng)
        write_pptx(os.path.join(out, f"deck{i:02d}.pptx"), rng)


if __name__ == "__main__":
    main()
