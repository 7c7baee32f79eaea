"""``python -m devtools demo-report --month M``: the demo's closing lines, in Japanese.

Lists every output the demo wrote (staff lists, the 全銀 file, benefit reports, PMH upload files, printed
PDFs and their indexes, the UI's inquiry files and certificate) and the quarantined rows of the month's
inputs: file, line, column, reason and masked value — and where to see them in the Prefect UI. Counts,
paths and masked values only.
"""

from __future__ import annotations

from pathlib import Path

from config.settings import get_settings
from services.intake.quarantine import month_quarantine
from store.db import engine_for

LABELS = (
    ("outbox/{month}", "職員向け一覧・全銀ファイル・給付の集計"),
    ("print/{month}", "印刷用PDF（受給者証・通知書）と索引"),
    ("print/{month}/counter", "窓口の処理で印刷したPDF"),
    ("outbox/pmh", "PMH 送信ファイル（ファイル連携モード）"),
    ("inquiry", "転入の例で使う照会ファイル（合成データ）"),
    ("counter", "転入の例で使う所得証明書（合成データ）"),
    ("inbox/events", "住民異動の取込フォルダ（resident-changes が監視）"),
)


def register(subparsers) -> None:
    """Add the ``demo-report`` command."""
    parser = subparsers.add_parser("demo-report", help="print the demo's outputs and quarantine in Japanese")
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--show", type=int, default=10, help="quarantined rows to show")
    parser.set_defaults(func=run)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def run(args) -> int:
    """Print the outputs per folder, then the quarantine."""
    settings = get_settings()
    home = settings.home
    print("=== 出力したファイル ===")
    for pattern, label in LABELS:
        folder = home / pattern.format(month=args.month)
        files = _files(folder) if pattern != "outbox/pmh" else sorted(folder.rglob("*.json")) if folder.is_dir() else []
        if not files and not folder.is_dir():
            continue
        print(f"■ {label}: {folder}/")
        for path in files[:12]:
            print(f"    {path.name}")
        if len(files) > 12:
            print(f"    …ほか {len(files) - 12} ファイル")
    with engine_for(settings.resolved_database_url).connect() as conn:
        rows = month_quarantine(conn, args.month)
    print()
    print(f"=== 保留した入力（quarantine）: {len(rows)} 件 ===")
    for row in rows.head(args.show).itertuples(index=False):
        masked = row.masked_value if isinstance(row.masked_value, str) and row.masked_value else "空"
        print(f"    {row.file_name} {row.row_number}行目 列 {row.column_name}: {row.reason_ja}（値 {masked}）")
    print(f"    全件: .venv/bin/kodomo quarantine --month {args.month} --operator demo-viewer")
    print("    Prefect UI（scripts/ui → http://127.0.0.1:4200）では monthly-run の実行 → Artifacts → "
          "monthly-quarantine。")
    return 0
