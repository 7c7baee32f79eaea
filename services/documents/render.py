"""Draw documents as PDF pages (ReportLab) in an embedded Japanese TrueType font.

The font is embedded (subset) in every file, so a document prints the same on any printer or viewer
(issue 15). The project installs IPAex明朝 from Debian (``fonts-ipaexfont``: ``.ci/run``, ``scripts/demo``);
a missing font is a clear error, never a silent fallback to a font without Japanese glyphs (tofu).

Dates print in the Japanese calendar (令和8年10月1日), as on the city's other notices; money prints with
thousands separators and 円.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from services.documents.model import (
    Addressee,
    AppealInstruction,
    Certificate,
    Document,
    GrantNotice,
    LossNotice,
    RefundDemand,
    SuspensionNotice,
)

FONT_NAME = "KodomoMincho"
# Debian fonts-ipaexfont-mincho first; the gothic face is an acceptable fallback (both IPA Font License).
FONT_FILES = (
    Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-mincho.ttf"),
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
)
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm

# 元号: the first day of each era still needed for children's and guardians' dates (元号法, 平成元年政令第1号,
# 平成31年政令第143号 — 令和 from 2019-05-01).
_ERAS = ((dt.date(2019, 5, 1), "令和"), (dt.date(1989, 1, 8), "平成"), (dt.date(1926, 12, 25), "昭和"))


class FontNotFoundError(RuntimeError):
    """No Japanese TrueType font: install fonts-ipaexfont (apt-get install -y fonts-ipaexfont)."""

    safe_message = True


@functools.cache
def register_font(font_file: str | None = None) -> str:
    """Register the Japanese font with ReportLab once per process and return its name."""
    candidates = [Path(font_file)] if font_file else list(FONT_FILES)
    for path in candidates:
        if path.is_file():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
            return FONT_NAME
    raise FontNotFoundError("no Japanese TrueType font found (tried " + ", ".join(map(str, candidates))
                       + "); install it: apt-get install -y fonts-ipaexfont")


def wareki(day: dt.date | None) -> str:
    """``2026-10-01`` → ``令和8年10月1日`` (元年 for year 1); ``None`` → empty."""
    if day is None:
        return ""
    for start, name in _ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


def wareki_month(month: str) -> str:
    """``2026-10`` → ``令和8年10月``."""
    text = wareki(dt.date(int(month[:4]), int(month[5:7]), 1))
    return text[: text.index("月") + 1]


def yen(amount: int) -> str:
    """``12345`` → ``12,345円``."""
    return f"{int(amount):,}円"


def wrap(text: str, width: float, size: float, font: str = FONT_NAME) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` points (Japanese breaks between any characters)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, line_width = "", 0.0
        for char in paragraph:
            char_width = pdfmetrics.stringWidth(char, font, size)
            if line and line_width + char_width > width and char not in "、。）」":  # 行頭禁則 for the commonest
                lines.append(line)
                line, line_width = "", 0.0
            line += char
            line_width += char_width
        lines.append(line)
    return lines


GETA = "〓"  # the sign for a character the font cannot show (外字), as in the staff CSV lists


@functools.cache
def _glyphs() -> frozenset[int]:
    """Code points the registered font has a glyph for."""
    return frozenset(pdfmetrics.getFont(FONT_NAME).face.charToGlyph)


def printable(text: str) -> str:
    """``text`` with every character the font lacks replaced by 〓, so no page ever shows tofu (□)."""
    glyphs = _glyphs()
    if all(ord(char) in glyphs for char in text):
        return text
    return "".join(char if ord(char) in glyphs or char in "\n" else GETA for char in text)


class _Page:
    """Drawing helpers on one canvas with the registered font (y grows upwards, in points)."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas

    def text(self, x: float, y: float, text: str, size: float = 10.5, *, align: str = "left") -> None:
        text = printable(text)
        c = self.canvas
        c.setFont(FONT_NAME, size)
        if align == "center":
            c.drawCentredString(x, y, text)
        elif align == "right":
            c.drawRightString(x, y, text)
        else:
            c.drawString(x, y, text)

    def paragraph(self, x: float, y: float, text: str, width: float, size: float = 10.5,
                  leading: float | None = None) -> float:
        """Draw wrapped text from ``y`` downwards; return the y below the last line."""
        leading = leading or size * 1.6
        for line in wrap(text, width, size):
            self.text(x, y, line, size)
            y -= leading
        return y

    def header(self, issue_date: dt.date, reference: str = "") -> None:
        right = PAGE_WIDTH - MARGIN
        top = PAGE_HEIGHT - MARGIN
        if reference:
            self.text(right, top, reference, 9, align="right")
        self.text(right, top - 14, wareki(issue_date), 10.5, align="right")

    def addressee(self, to: Addressee) -> None:
        x, y = MARGIN + 5 * mm, PAGE_HEIGHT - MARGIN - 10 * mm
        if to.postal_code:
            self.text(x, y, f"〒{to.postal_code}", 10.5)
            y -= 16
        y = self.paragraph(x, y, to.address, 95 * mm, 10.5, 15)
        self.text(x, y - 6, f"{to.name}　様", 13)

    def title(self, text: str, y: float) -> None:
        self.text(PAGE_WIDTH / 2, y, text, 16, align="center")

    def issuer(self, issuer: str, y: float) -> None:
        self.text(PAGE_WIDTH - MARGIN - 10 * mm, y, issuer, 12, align="right")

    def table(self, rows: Sequence[tuple[str, str]], top: float, *, label_width: float = 45 * mm,
              row_height: float = 9 * mm, x: float = MARGIN, width: float = PAGE_WIDTH - 2 * MARGIN,
              size: float = 10.5) -> float:
        """A two-column ruled table; return its bottom y."""
        c = self.canvas
        c.setLineWidth(0.6)
        bottom = top - row_height * len(rows)
        c.rect(x, bottom, width, top - bottom)
        c.line(x + label_width, bottom, x + label_width, top)
        y = top
        for label, value in rows:
            if y != top:
                c.line(x, y, x + width, y)
            baseline = y - row_height / 2 - size * 0.35
            self.text(x + 3 * mm, baseline, label, size)
            self.text(x + label_width + 3 * mm, baseline, value, size)
            y -= row_height
        return bottom

    def appeal(self, appeal: AppealInstruction) -> None:
        """The 教示文 box at the foot of the page (行政不服審査法 §82, 行政事件訴訟法 §46)."""
        width = PAGE_WIDTH - 2 * MARGIN - 8 * mm
        size, leading = 8.5, 12.5
        body = [wrap(appeal.review_request, width - 12, size), wrap(appeal.lawsuit, width - 12, size)]
        lines = 1 + sum(len(part) for part in body) + 1
        height = lines * leading + 6 * mm
        bottom = MARGIN
        self.canvas.setLineWidth(0.6)
        self.canvas.rect(MARGIN, bottom, PAGE_WIDTH - 2 * MARGIN, height)
        y = bottom + height - 4 * mm - size
        self.text(MARGIN + 4 * mm, y, "教示", 9.5)
        y -= leading
        for marker, part in zip(("１", "２"), body, strict=True):
            for index, line in enumerate(part):
                self.text(MARGIN + 4 * mm, y, (marker + "　") if index == 0 else "　　", size)
                self.text(MARGIN + 4 * mm + 2 * size, y, line, size)
                y -= leading


def _body_top() -> float:
    return PAGE_HEIGHT - MARGIN - 75 * mm


def draw_certificate(page: _Page, doc: Certificate) -> None:
    """受給者証: a card (≈ 130 × 95 mm) with a cutting line, the fields in a ruled table."""
    c = page.canvas
    card_w, card_h = 130 * mm, 95 * mm
    x0 = (PAGE_WIDTH - card_w) / 2
    y0 = PAGE_HEIGHT - MARGIN - card_h
    c.setDash(3, 3)
    c.setLineWidth(0.4)
    c.rect(x0 - 4 * mm, y0 - 4 * mm, card_w + 8 * mm, card_h + 8 * mm)
    c.setDash()
    page.text(x0 - 4 * mm, y0 - 9 * mm, "切り取り線に沿って切り取り、保険証（資格確認書）と一緒にお持ちください。", 8)
    page.text(x0 + card_w / 2, y0 + card_h - 8 * mm, doc.certification_name, 12.5, align="center")
    if doc.reissue_note:
        page.text(x0 + card_w - 3 * mm, y0 + card_h - 8 * mm, doc.reissue_note, 8, align="right")
    rows = [
        ("公費負担者番号", doc.public_payer_number),
        ("受給者番号", doc.recipient_no),
        ("受給者氏名", f"{doc.child_name}（{doc.child_kana}）" if doc.child_kana else doc.child_name),
        ("生年月日", wareki(doc.child_birth_date)),
        ("保護者氏名", doc.guardian_name),
        ("住所", doc.address),
        ("有効期間", f"{wareki(doc.valid_from)}から{wareki(doc.valid_to)}まで"),
        ("一部負担金", doc.copay),
        ("保険者番号", doc.insurer_number),
    ]
    bottom = page.table(rows, y0 + card_h - 12 * mm, label_width=28 * mm, row_height=7.2 * mm, x=x0 + 3 * mm,
                        width=card_w - 6 * mm, size=8.5)
    page.text(x0 + 3 * mm, bottom - 6 * mm, f"交付年月日　{wareki(doc.issue_date)}", 8.5)
    page.text(x0 + card_w - 3 * mm, bottom - 6 * mm, doc.issuer, 10, align="right")
    notes = ("医療機関等で受診するときは、保険証（資格確認書）とこの受給者証を窓口に提示してください。"
             "記載事項に変更があったとき、又は資格がなくなったときは、14日以内に届け出てください。")
    page.paragraph(MARGIN, y0 - 22 * mm, notes, PAGE_WIDTH - 2 * MARGIN, 9.5)


def _disposition_notice(page: _Page, doc, lead: str, rows: list[tuple[str, str]], *,
                        closing: str | None = None) -> None:
    """The frame every notice of a disposition shares: header, addressee, title, lead, table, issuer, 教示文."""
    page.header(doc.issue_date)
    page.addressee(doc.addressee)
    y = _body_top()
    page.title(doc.title, y + 12 * mm)
    y = page.paragraph(MARGIN, y, lead, PAGE_WIDTH - 2 * MARGIN)
    bottom = page.table(rows, y - 4 * mm)
    if closing:
        page.paragraph(MARGIN, bottom - 8 * mm, closing, PAGE_WIDTH - 2 * MARGIN, 10)
    page.issuer(doc.issuer, bottom - (24 if closing else 12) * mm)
    page.appeal(doc.appeal)


def draw_grant_notice(page: _Page, doc: GrantNotice) -> None:
    """交付通知: the decision (新規/変更/更新/再交付), the validity and the 教示文."""
    lead = f"次のとおり医療費助成の受給資格を認定（{doc.decision_label}）し、受給者証を交付します。"
    _disposition_notice(page, doc, lead, [
        ("受給者氏名", doc.child_name),
        ("受給者番号", doc.recipient_no),
        ("区分", doc.decision_label),
        ("効力発生日", wareki(doc.effective_date)),
        ("有効期間", f"{wareki(doc.valid_from)}から{wareki(doc.valid_to)}まで"),
    ])


def draw_suspension_notice(page: _Page, doc: SuspensionNotice) -> None:
    """支給停止通知書: from when and why, with the 教示文."""
    _disposition_notice(page, doc, "次のとおり医療費助成の支給を停止することに決定したので通知します。", [
        ("受給者氏名", doc.child_name),
        ("受給者番号", doc.recipient_no),
        ("支給停止日", wareki(doc.effective_date)),
        ("理由", doc.reason),
    ])


def draw_loss_notice(page: _Page, doc: LossNotice) -> None:
    """資格喪失通知書: the day of loss, the cause, the request to return the card, the 教示文."""
    _disposition_notice(page, doc, "次のとおり医療費助成の受給資格を喪失したので通知します。", [
        ("受給者氏名", doc.child_name),
        ("受給者番号", doc.recipient_no),
        ("資格喪失日", wareki(doc.effective_date)),
        ("喪失事由", doc.reason),
    ], closing=doc.return_request)


def draw_refund_demand(page: _Page, doc: RefundDemand) -> None:
    """返還請求書 / 督促状: total, 納期限, items, how to pay, the 教示文."""
    page.header(doc.issue_date, f"債権番号 {doc.reference_no}" if doc.reference_no else "")
    page.addressee(doc.addressee)
    y = _body_top()
    page.title(doc.title, y + 12 * mm)
    lead = ("次のとおり医療費助成金の返還を請求しますので、納期限までに納付してください。"
            if doc.demand_label != "督促" else
            "次の返還金が納期限までに納付されていません。指定期限までに納付してください。")
    y = page.paragraph(MARGIN, y, lead, PAGE_WIDTH - 2 * MARGIN)
    y = page.table([
        ("受給者氏名", doc.child_name),
        ("受給者番号", doc.recipient_no),
        ("返還の理由", doc.reason),
        ("返還金額（合計）", yen(doc.total)),
        ("納期限", wareki(doc.due_date)),
    ], y - 4 * mm, row_height=8 * mm)
    y -= 6 * mm
    page.text(MARGIN, y, "内訳", 10)
    shown = doc.items[:8]
    rows = [(wareki_month(item.service_month) + "診療分", f"{item.description}　{yen(item.amount)}") for item in shown]
    if len(doc.items) > len(shown):
        rows.append(("ほか", f"{len(doc.items) - len(shown)}件　{yen(sum(i.amount for i in doc.items[8:]))}"))
    y = page.table(rows, y - 3 * mm, row_height=6.5 * mm, size=9.5) if rows else y
    y -= 6 * mm
    page.text(MARGIN, y, "納付方法", 10)
    y = page.paragraph(MARGIN + 4 * mm, y - 14, "\n".join(doc.payment_details), PAGE_WIDTH - 2 * MARGIN - 8 * mm, 9.5)
    page.issuer(doc.issuer, y - 4 * mm)
    page.appeal(doc.appeal)


_DRAW = {
    "certificate": draw_certificate,
    "grant_notice": draw_grant_notice,
    "suspension_notice": draw_suspension_notice,
    "loss_notice": draw_loss_notice,
    "refund_demand": draw_refund_demand,
}


def render_pdf(documents: Iterable[Document], handle: BinaryIO, *, title: str = "",
               font_file: str | None = None) -> int:
    """Draw each document on its own A4 page into ``handle``; return the number of pages.

    The output is byte-for-byte reproducible for the same documents (``invariant``), so a reprint can be
    compared with the original.
    """
    register_font(font_file)
    canvas = Canvas(handle, pagesize=A4, invariant=1, pageCompression=1, initialFontName=FONT_NAME,
                    initialFontSize=10.5)
    canvas.setTitle(title)
    canvas.setCreator("kodomo-iryohi")
    page = _Page(canvas)
    pages = 0
    for document in documents:
        _DRAW[document.kind](page, document)
        canvas.showPage()
        pages += 1
    if pages == 0:  # an empty batch is not written by the callers; keep the PDF valid anyway
        canvas.showPage()
    canvas.save()
    return pages
