"""Printed documents: real text, real embedded glyphs, 教示文 on every disposition, private batch files."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import stat
import subprocess

import pytest
from PIL import Image

from policy import load_policy
from services.documents import (
    Addressee,
    Certificate,
    GrantNotice,
    LossNotice,
    RefundDemand,
    RefundItem,
    SuspensionNotice,
    appeal_instruction,
    issuer_title,
    wareki,
    write_batch,
)
from services.documents.render import GETA, printable

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
                                reason="poppler-utils not installed (.ci/run installs it)")

ISSUE = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _documents(policy):
    appeal = appeal_instruction(policy, ISSUE)
    issuer = issuer_title(policy, ISSUE)
    to = Addressee("青葉 花子", "宮城県仙台市青葉区国分町三丁目7番1号", "980-8671", care_note="要確認")
    return [
        Certificate("100000000000001", "1234567", "88041009", "仙台市こども医療費受給者証", "青葉 太郎",
                    "アオバ タロウ", dt.date(2019, 5, 1), "青葉 花子", to.address, ISSUE, dt.date(2027, 9, 30),
                    "通院 初診時500円／入院 無料", "06040015", ISSUE, issuer),
        GrantNotice("100000000000001", "1234567", to, "青葉 太郎", "新規", ISSUE, dt.date(2027, 9, 30), ISSUE, ISSUE,
                    issuer, appeal),
        SuspensionNotice("100000000000002", "2345678", to, "青葉 次郎", dt.date(2026, 11, 1), "所得制限額の超過",
                         ISSUE, issuer, appeal),
        LossNotice("100000000000003", "3456789", to, "青葉 三郎", dt.date(2026, 9, 15), "転出", ISSUE, issuer,
                   appeal),
        RefundDemand("100000000000003", "3456789", to, "青葉 三郎",
                     (RefundItem("2026-09", "医療機関 0412345678", 1200), RefundItem("2026-10", "調剤", 340)),
                     dt.date(2026, 11, 30), "資格喪失後の受診分", ("同封の納付書により納付してください。",), ISSUE,
                     issuer, appeal, reference_no="R-2026-000123"),
    ]


def _text(path, page):
    return subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path), "-"],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def batch(policy, tmp_path_factory):
    directory = tmp_path_factory.mktemp("print") / "2026-10"
    return write_batch(_documents(policy), directory, "test_batch")


def test_wareki_dates():
    assert wareki(dt.date(2026, 10, 1)) == "令和8年10月1日"
    assert wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(dt.date(2019, 4, 30)) == "平成31年4月30日"


def test_batch_files_are_private_and_indexed(batch):
    assert batch.pages == 5 and len(batch.files) == 1
    pdf = batch.files[0]
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    assert stat.S_IMODE(pdf.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(batch.index.stat().st_mode) == 0o600
    with open(batch.index, encoding="cp932", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ファイル", "ページ", "書類", "受給者番号", "宛名番号", "送付先注意"]
    assert [r[1:4] for r in rows[1:]] == [["1", "受給者証", "1234567"], ["2", "受給者証交付通知書", "1234567"],
                                          ["3", "支給停止通知書", "2345678"], ["4", "資格喪失通知書", "3456789"],
                                          ["5", "助成金返還請求書", "3456789"]]
    assert rows[1][5] == "" and rows[2][5] == "要確認"  # the card goes in the notice's envelope
    assert "青葉" not in batch.index.read_bytes().decode("cp932")  # no names in the index


def test_fonts_are_embedded_japanese(batch):
    out = subprocess.run(["pdffonts", str(batch.files[0])], check=True, capture_output=True, text=True).stdout
    fonts = out.splitlines()[2:]
    assert fonts, out
    for line in fonts:
        assert "IPAex" in line, line
        emb, sub, uni = line.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), line


def test_certificate_text(batch):
    text = _text(batch.files[0], 1)
    for expected in ("仙台市こども医療費受給者証", "公費負担者番号", "88041009", "1234567", "青葉 太郎", "アオバ タロウ",
                     "令和元年5月1日", "令和8年10月1日から令和9年9月30日まで", "06040015", "通院 初診時500円", "仙台市長"):
        assert expected in text, expected
    assert "教示" not in text  # the card is not a notice


@pytest.mark.parametrize(("page", "expected"), [
    (2, ("受給者証交付通知書", "青葉 花子", "1234567", "令和8年10月1日", "新規")),
    (3, ("支給停止通知書", "2345678", "令和8年11月1日", "所得制限額の超過")),
    (4, ("資格喪失通知書", "3456789", "令和8年9月15日", "転出", "返還")),
    (5, ("助成金返還請求書", "R-2026-000123", "1,540円", "1,200円", "340円", "令和8年11月30日", "納付書")),
])
def test_notices_carry_numbers_dates_and_appeal_instruction(batch, page, expected):
    text = _text(batch.files[0], page)
    for value in expected:
        assert value in text, value
    flat = "".join(text.split())
    assert "3か月以内に、仙台市長に対して審査請求" in flat
    assert "6か月以内に、仙台市を被告として" in flat
    assert "行政不服審査法" in flat and "行政事件訴訟法" in flat


def test_pages_render_with_ink(batch, tmp_path):
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "2", str(batch.files[0]), str(tmp_path / "p")],
                   check=True)
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 2
    for png in pngs:
        image = Image.open(png).convert("L")
        dark = sum(image.histogram()[:128])
        assert dark > 2000, (png.name, dark)  # text and rules are drawn, not a blank page


def test_missing_glyphs_become_geta_not_tofu(policy, tmp_path):
    assert printable("青葉\ue000太郎") == f"青葉{GETA}太郎"
    docs = _documents(policy)
    card = docs[0]
    odd = Certificate(**{**{k: getattr(card, k) for k in card.__dataclass_fields__ if k not in ("kind", "title")},
                         "child_name": "青葉\ue000太郎"})
    batch = write_batch([odd], tmp_path, "odd")
    assert "青葉〓太郎" in _text(batch.files[0], 1)


def test_appeal_instruction_has_its_source(policy):
    appeal = appeal_instruction(policy, ISSUE)
    assert "行政不服審査法" in appeal.source and "行政事件訴訟法" in appeal.source
    with pytest.raises(ValueError):
        appeal_instruction(policy, dt.date(2000, 1, 1))


def test_volumes_split_large_batches(policy, tmp_path):
    docs = _documents(policy) * 3
    batch = write_batch(docs, tmp_path, "big", volume_size=4)
    assert [p.name for p in batch.files] == ["big_001.pdf", "big_002.pdf", "big_003.pdf", "big_004.pdf"]
    assert batch.pages == 15
    assert "受給者証" in _text(batch.files[1], 2)  # document 6 = the second card, page 2 of volume 2
    parallel = write_batch(docs, tmp_path / "parallel", "big", volume_size=4, workers=2)
    assert [p.read_bytes() for p in parallel.files] == [p.read_bytes() for p in batch.files]
