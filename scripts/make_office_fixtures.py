#!/usr/bin/python3
"""make_office_fixtures.py - writes tests/fixtures/office/: small Office files for tests/test_office.c.

DOCX and XLSX come from Debian's python3-docx and python3-openpyxl (what Word
and Excel users' files look like to those libraries); PPTX, ODT, ODS and ODP
are written by hand with zipfile, since Debian has no writer for them, and
so are the DOCX structures python-docx cannot make (footnotes, tracked
changes, fields, text boxes, rendered page breaks). Run with /usr/bin/python3
(scripts/install-deps.sh --bench installs both packages); the output is
committed, so tests need neither.
"""
import datetime
import io
import os
import sys
import zipfile

import docx
import openpyxl
from docx.oxml.ns import qn
from docx.oxml import OxmlElement

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "office")


def docx_contract(path):
    d = docx.Document()
    d.core_properties.title = ""
    d.sections[0].header.paragraphs[0].text = "保密 CONFIDENTIAL 租赁合同"
    d.sections[0].footer.paragraphs[0].text = "Lease contract footer"
    d.add_heading("第一章 总则", level=1)
    d.add_paragraph("本合同由甲方与乙方签订。")
    d.add_heading("1.1 定义", level=2)
    d.add_paragraph("租金指乙方每月支付的费用。")
    d.add_paragraph("押金为两个月租金。")
    # a custom style based on Heading 2 is a heading too
    st = d.styles.add_style("Contract Clause", docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
    st.base_style = d.styles["Heading 2"]
    d.add_paragraph("1.2 违约责任", style="Contract Clause")
    d.add_paragraph("违约金为每日万分之五。")
    d.add_paragraph("First bullet item", style="List Bullet")
    d.add_paragraph("Second bullet item", style="List Bullet")
    d.add_heading("Chapter 2 Payment", level=1)
    t = d.add_table(rows=3, cols=3)
    for i, row in enumerate([["Item", "2018", "2017"], ["Rent", "1,200", "1,100"],
                             ["Deposit", "2,400", "2,200"]]):
        for j, v in enumerate(row):
            t.cell(i, j).text = v
    p = d.add_paragraph("Payment is due on the first day. ")
    # tracked changes: an insertion kept, a deletion dropped
    ins = OxmlElement("w:ins")
    ins.set(qn("w:id"), "1")
    ins.set(qn("w:author"), "a")
    r = OxmlElement("w:r")
    t_ = OxmlElement("w:t")
    t_.text = "Late fees apply."
    r.append(t_)
    ins.append(r)
    p._p.append(ins)
    dele = OxmlElement("w:del")
    dele.set(qn("w:id"), "2")
    dele.set(qn("w:author"), "a")
    r = OxmlElement("w:r")
    dt = OxmlElement("w:delText")
    dt.text = "DELETEDWORDS"
    r.append(dt)
    dele.append(r)
    p._p.append(dele)
    # a field: the instruction is hidden, its result shown
    p2 = d.add_paragraph("Total pages: ")
    for kind, text in (("begin", None), ("instr", " NUMPAGES "), ("separate", None),
                       ("text", "7"), ("end", None)):
        r = OxmlElement("w:r")
        if kind in ("begin", "separate", "end"):
            fc = OxmlElement("w:fldChar")
            fc.set(qn("w:fldCharType"), kind)
            r.append(fc)
        elif kind == "instr":
            it = OxmlElement("w:instrText")
            it.text = text
            r.append(it)
        else:
            tt = OxmlElement("w:t")
            tt.text = text
            r.append(tt)
        p2._p.append(r)
    d.save(path)


def docx_pages(path):
    """Headings in Chinese style names and rendered page breaks."""
    d = docx.Document()
    for i, name in enumerate(["标题 1", "标题 2"]):
        # Chinese producers write the built-in names translated
        st = d.styles.add_style(name, docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
        st.base_style = d.styles["Normal"]
    d.add_paragraph("第三章 价格", style="标题 1")
    d.add_paragraph("3.1 报价", style="标题 2")
    d.add_paragraph("单价为每吨五百元。")
    p = d.add_paragraph("")
    r = OxmlElement("w:r")
    r.append(OxmlElement("w:lastRenderedPageBreak"))
    t = OxmlElement("w:t")
    t.text = "第二页的内容在这里。"
    r.append(t)
    p._p.append(r)
    d.save(path)


def add_footnote_and_box(path):
    """python-docx writes no footnotes or text boxes: add them to the zip."""
    src = zipfile.ZipFile(path)
    parts = {n: src.read(n) for n in src.namelist()}
    src.close()
    W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    parts["word/footnotes.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:footnotes {W}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:id="1"><w:p><w:r><w:t>See the 2019 amendment.</w:t></w:r></w:p></w:footnote>'
        '</w:footnotes>').encode()
    doc = parts["word/document.xml"].decode()
    # a text box as Word writes one: DrawingML (wps) in mc:Choice, the same
    # text again as VML in mc:Fallback
    box = "<w:p><w:r><w:t>Text box: call 400-800</w:t></w:r></w:p>"
    extra = ('<w:p><w:r><w:t>Deposit is refundable.</w:t></w:r>'
             '<w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r>'
             '<w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
             '<mc:Choice xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" Requires="wps">'
             '<w:drawing><wp:anchor xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
             'distT="0" distB="0" distL="0" distR="0" simplePos="0" relativeHeight="1" behindDoc="0" locked="0" '
             'layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/>'
             '<wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH>'
             '<wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>'
             '<wp:extent cx="1828800" cy="457200"/><wp:wrapNone/><wp:docPr id="1" name="Text Box 1"/>'
             '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
             '<a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">'
             '<wps:wsp><wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="1828800" cy="457200"/>'
             '</a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></wps:spPr>'
             f'<wps:txbx><w:txbxContent>{box}</w:txbxContent></wps:txbx><wps:bodyPr/></wps:wsp>'
             '</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>'
             '<mc:Fallback><w:pict><v:shape xmlns:v="urn:schemas-microsoft-com:vml" style="width:144pt;height:36pt">'
             f'<v:textbox><w:txbxContent>{box}</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>'
             '</mc:AlternateContent></w:r></w:p>')
    doc = doc.replace("<w:sectPr", extra + "<w:sectPr", 1)
    parts["word/document.xml"] = doc.encode()
    ct = parts["[Content_Types].xml"].decode()
    ct = ct.replace("</Types>", '<Override PartName="/word/footnotes.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>')
    parts["[Content_Types].xml"] = ct.encode()
    rels = parts["word/_rels/document.xml.rels"].decode()
    rels = rels.replace("</Relationships>", '<Relationship Id="rIdFn" Type="http://schemas.openxmlformats.org/'
                        'officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/></Relationships>')
    parts["word/_rels/document.xml.rels"] = rels.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def xlsx_prices(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "报价单"
    ws.append(["产品", "单价", "日期", "折扣"])
    for i in range(60):
        ws.append([f"钢材{i + 1}", 1280.5 + i, datetime.date(2024, 3, 15), 0.125])
    for row in ws.iter_rows(min_row=2):
        row[1].number_format = "#,##0.00"
        row[2].number_format = 'yyyy"年"m"月"d"日"'
        row[3].number_format = "0.0%"
    ws["E1"] = "合计"
    ws["E2"] = "=SUM(B2:B61)"
    hidden = wb.create_sheet("secret")
    hidden["A1"] = "HIDDENTEXT"
    hidden.sheet_state = "hidden"
    en = wb.create_sheet("Summary")
    en.append(["Region", "Q1", "Q2"])
    en.append(["North", 100, 200])
    en.append(["South", 300, 400])
    en.merge_cells("A5:C5")
    en["A5"] = "Merged note across columns"
    wb.save(path)
    # openpyxl writes formulas without a cached value: add one by hand, as Excel would
    src = zipfile.ZipFile(path)
    parts = {n: src.read(n) for n in src.namelist()}
    src.close()
    s = parts["xl/worksheets/sheet1.xml"].decode()
    s = s.replace("<f>SUM(B2:B61)</f><v></v>", "<f>SUM(B2:B61)</f><v>78600</v>")
    s = s.replace("<f>SUM(B2:B61)</f><v/>", "<f>SUM(B2:B61)</f><v>78600</v>")
    s = s.replace("<f>SUM(B2:B61)</f></c>", "<f>SUM(B2:B61)</f><v>78600</v></c>")
    parts["xl/worksheets/sheet1.xml"] = s.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def write_zip(path, parts):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts:
            z.writestr(n, data)


P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" ' \
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ' \
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def sp(text, ph=None, x=None, y=None):
    phx = '<p:ph type="%s"/>' % ph if ph else ""
    nv = f'<p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr>{phx}</p:nvPr></p:nvSpPr>'
    pr = f'<p:spPr><a:xfrm><a:off x="{x}" y="{y}"/><a:ext cx="100" cy="100"/></a:xfrm></p:spPr>' \
        if x is not None else "<p:spPr/>"
    paras = "".join(f"<a:p><a:r><a:t>{t}</a:t></a:r></a:p>" for t in text)
    return f"<p:sp>{nv}{pr}<p:txBody><a:bodyPr/>{paras}</p:txBody></p:sp>"


def pptx_deck(path):
    slides = [
        [sp(["季度销售回顾"], "title"), sp(["Revenue grew 12% in Q3"], None, 0, 2000000),
         sp(["收入增长百分之十二"], None, 0, 1000000)],
        [sp(["Pricing table"], "title"),
         '<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="3" name="t"/><p:cNvGraphicFramePr/><p:nvPr/>'
         '</p:nvGraphicFramePr><p:xfrm><a:off x="0" y="0"/><a:ext cx="1" cy="1"/></p:xfrm><a:graphic>'
         '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl>'
         + "".join("<a:tr>" + "".join(f"<a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>{c}</a:t></a:r></a:p>"
                                      "</a:txBody></a:tc>" for c in row) + "</a:tr>"
                   for row in [["Product", "Price"], ["Steel", "500"], ["Copper", "900"]])
         + "</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"],
        [sp(["Hidden slide"], "title")],
    ]
    parts = [("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'),
             ("_rels/.rels", f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="ppt/presentation.xml"/></Relationships>')]
    ids = "".join(f'<p:sldId id="{256 + i}" r:id="rId{i + 1}"/>' for i in range(len(slides)))
    parts.append(("ppt/presentation.xml", f'<p:presentation {P}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>'))
    rels = "".join(f'<Relationship Id="rId{i + 1}" Type="{REL}/slide" Target="slides/slide{i + 1}.xml"/>'
                   for i in range(len(slides)))
    parts.append(("ppt/_rels/presentation.xml.rels",
                  f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'))
    for i, shapes in enumerate(slides):
        show = ' show="0"' if i == 2 else ""
        parts.append((f"ppt/slides/slide{i + 1}.xml",
                      f'<p:sld {P}{show}><p:cSld><p:spTree><p:nvGrpSpPr/><p:grpSpPr/>{"".join(shapes)}</p:spTree></p:cSld></p:sld>'))
        if i == 0:
            parts.append(("ppt/slides/_rels/slide1.xml.rels",
                          f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                          f'<Relationship Id="rId9" Type="{REL}/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>'))
            parts.append(("ppt/notesSlides/notesSlide1.xml",
                          f'<p:notes {P}><p:cSld><p:spTree>{sp(["Mention the new plant"], "body")}</p:spTree></p:cSld></p:notes>'))
    write_zip(path, parts)


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"')


def odf(path, mime, body, styles=None):
    parts = [("mimetype", mime),
             ("content.xml", f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}>{body}</office:document-content>'),
             ("META-INF/manifest.xml", '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')]
    if styles:
        parts.append(("styles.xml", f'<office:document-styles {ODF_NS}>{styles}</office:document-styles>'))
    write_zip(path, parts)


def odt_report(path):
    body = ('<office:body><office:text>'
            '<text:h text:outline-level="1">第一章 概述</text:h>'
            '<text:p>本报告介绍年度经营情况。<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation>'
            '<text:note-body><text:p>数据未经审计。</text:p></text:note-body></text:note></text:p>'
            '<text:h text:outline-level="2">1.1 Scope</text:h>'
            '<text:list><text:list-item><text:p>Steel output</text:p></text:list-item>'
            '<text:list-item><text:p>Copper output</text:p></text:list-item></text:list>'
            '<text:p><text:soft-page-break/>Second page text.</text:p>'
            '<table:table table:name="T"><table:table-row><table:table-cell><text:p>Metal</text:p></table:table-cell>'
            '<table:table-cell><text:p>Tons</text:p></table:table-cell></table:table-row>'
            '<table:table-row><table:table-cell><text:p>Steel</text:p></table:table-cell>'
            '<table:table-cell><text:p>4200</text:p></table:table-cell></table:table-row></table:table>'
            '</office:text></office:body>')
    styles = ('<office:master-styles><style:master-page style:name="Standard"><style:header>'
              '<text:p>年度报告 页眉</text:p></style:header></style:master-page></office:master-styles>')
    odf(path, "application/vnd.oasis.opendocument.text", body, styles)


def ods_sheet(path):
    body = ('<office:automatic-styles><style:style style:name="ta2" style:family="table">'
            '<style:table-properties table:display="false"/></style:style></office:automatic-styles>'
            '<office:body><office:spreadsheet>'
            '<table:table table:name="库存"><table:table-row>'
            '<table:table-cell><text:p>物料</text:p></table:table-cell><table:table-cell><text:p>数量</text:p></table:table-cell>'
            '</table:table-row><table:table-row><table:table-cell><text:p>螺栓</text:p></table:table-cell>'
            '<table:table-cell office:value-type="float" office:value="1200"><text:p>1,200</text:p></table:table-cell>'
            '<table:table-cell table:number-columns-repeated="1000"/></table:table-row>'
            '<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
            '</table:table>'
            '<table:table table:name="hidden" table:style-name="ta2"><table:table-row><table:table-cell><text:p>HIDDENTEXT</text:p>'
            '</table:table-cell></table:table-row></table:table>'
            '</office:spreadsheet></office:body>')
    odf(path, "application/vnd.oasis.opendocument.spreadsheet", body)


def odp_deck(path):
    body = ('<office:body><office:presentation>'
            '<draw:page draw:name="p1"><draw:frame presentation:class="title"><draw:text-box><text:p>Safety training</text:p>'
            '</draw:text-box></draw:frame><draw:frame presentation:class="outline"><draw:text-box>'
            '<text:p>Wear a helmet at all times</text:p></draw:text-box></draw:frame>'
            '<presentation:notes><draw:frame presentation:class="notes"><draw:text-box><text:p>Ask who has a helmet</text:p>'
            '</draw:text-box></draw:frame></presentation:notes></draw:page>'
            '<draw:page draw:name="p2"><draw:frame presentation:class="title"><draw:text-box><text:p>安全培训</text:p>'
            '</draw:text-box></draw:frame></draw:page>'
            '</office:presentation></office:body>')
    odf(path, "application/vnd.oasis.opendocument.presentation", body)


def main():
    os.makedirs(OUT, exist_ok=True)
    contract = os.path.join(OUT, "contract.docx")
    docx_contract(contract)
    add_footnote_and_box(contract)
    docx_pages(os.path.join(OUT, "pages.docx"))
    xlsx_prices(os.path.join(OUT, "prices.xlsx"))
    pptx_deck(os.path.join(OUT, "deck.pptx"))
    odt_report(os.path.join(OUT, "report.odt"))
    ods_sheet(os.path.join(OUT, "stock.ods"))
    odp_deck(os.path.join(OUT, "training.odp"))
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
