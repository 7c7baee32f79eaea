import json
import uuid

from sqlalchemy import text

from devtools.canary import CanaryScanner, find_my_number_like
from store.db import make_engine

CANARY = "123456789018"
NAME = "鷺坂カナリア"
ADDRESS = "仙台市青葉区カナリア町9-9"


def scanner():
    return CanaryScanner([CANARY], [NAME, ADDRESS])


def test_finds_every_form_in_files(tmp_path):
    samples = {
        "plain.log": f"x={CANARY}".encode(),
        "hyphen.txt": b"1234-5678-9018",
        "full.csv": "１２３４５６７８９０１８".encode(),
        "full-cp932.csv": "１２３４５６７８９０１８".encode("cp932"),
        "escaped.json": json.dumps({"n": "１２３４５６７８９０１８", "name": NAME}).encode(),
        "name-cp932.csv": f"{NAME},{ADDRESS}".encode("cp932"),
        "utf16.bin": NAME.encode("utf-16-le"),
        "hash.txt": __import__("hashlib").sha256(CANARY.encode()).hexdigest().encode(),
        "url.txt": __import__("urllib.parse").parse.quote(ADDRESS).encode(),
    }
    for name, data in samples.items():
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes(data)
    hits = scanner().scan_tree(tmp_path)
    files = {h.where.rsplit("/", 1)[1] for h in hits}
    assert files == set(samples)
    assert all(CANARY not in str(h) and NAME not in str(h) for h in hits)
    forms = {h.form for h in hits}
    assert {"digits", "hyphenated", "full-width/utf-8", "full-width/cp932", "sha256-hex", "url-encoded"} <= forms
    skipped = scanner().scan_tree(tmp_path, exclude=lambda p: p.name != "plain.log")
    assert [h.where.rsplit("/", 1)[1] for h in skipped] == ["plain.log"]


def test_clean_data_has_no_hits(tmp_path):
    (tmp_path / "ok.txt").write_text(f"person ******0001, run {uuid.uuid4()}, other 123456789012")
    assert scanner().scan_tree(tmp_path) == []


def test_finds_canaries_in_every_table_and_column(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE a (id INTEGER, note TEXT, blob_col BYTEA)" if engine.dialect.name ==
                          "postgresql" else "CREATE TABLE a (id INTEGER, note TEXT, blob_col BLOB)"))
        conn.execute(text("CREATE TABLE b (payload TEXT)"))
        conn.execute(text("INSERT INTO a VALUES (1, :n, :b)"), {"n": "x" * 5000 + CANARY, "b": NAME.encode()})
        conn.execute(text("INSERT INTO b VALUES (:p)"), {"p": "clean"})
    hits = scanner().scan_database(engine, label="db")
    assert {h.where for h in hits} == {"db:a.note", "db:a.blob_col"}
    assert scanner().scan_database(engine, exclude_columns=["a.note", "a.blob_col"]) == []
    engine.dispose()


def test_generic_detector_ignores_uuids_and_invalid_numbers():
    assert find_my_number_like(f"a {CANARY} b") == 1
    assert find_my_number_like("１２３４５６７８９０１８ and 1234-5678-9018") == 2
    assert find_my_number_like("123456789012 999999999999") == 0  # check digit wrong
    ids = " ".join(str(uuid.UUID(int=i * 7919)) for i in range(2000))
    assert find_my_number_like(ids + " 00000000-0000-0000-0000-123456789018") == 0


def test_twelve_digit_runs_skip_uuids_but_not_numbers_beside_them():
    from devtools.canary import twelve_digit_runs

    run_id = "3f2b9c1e-0d4a-4e55-9a7b-605623941929"  # a Prefect id whose last group is all digits
    assert twelve_digit_runs(f"flow run {run_id} ok") == []
    assert twelve_digit_runs(f"{run_id} 123456789018 x1234567890123") == ["123456789018"]
