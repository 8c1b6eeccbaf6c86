"""No credential in the repository, no pickle, and SQL that treats hostile values as data."""

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.resources import SourceDatabase

REPO = Path(__file__).resolve().parents[2]

KEY_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key assignment": re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}\b"),
    "private key block": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "password in a URL": re.compile(r"://[A-Za-z0-9_.-]+:(?!\$\{|<|\*|changeme|example|password@)[^@\s/'\"]{6,}@"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return [REPO / f for f in listed if (REPO / f).is_file()]


def test_the_scanner_finds_what_it_looks_for():
    fake_id = "AKIA" + "ABCDEFGHIJKLMNOP"  # built at run time so this file holds no key-like literal
    assert KEY_PATTERNS["AWS access key id"].search(f"key = {fake_id}")
    assert KEY_PATTERNS["password in a URL"].search("mysql+pymysql://root:" + "s3cr3tpass" + "@db/vod_rec")
    assert not KEY_PATTERNS["password in a URL"].search("mysql+pymysql://root:${MYSQL_PASSWORD}@db/vod_rec")


def test_no_credentials_in_tracked_files():
    hits = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name, pattern in KEY_PATTERNS.items():
            for match in pattern.finditer(text):
                hits.append(f"{path.relative_to(REPO)}: {name}: {match.group(0)[:12]}...")
    assert not hits, "credential-like strings in the repository:\n" + "\n".join(hits)


def test_no_pickle_in_the_code_location():
    offenders = [p.relative_to(REPO) for p in (REPO / "vodrec_assets").rglob("*.py")
                 if re.search(r"^\s*(import pickle|from pickle|import cloudpickle|import joblib)", p.read_text(), re.M)
                 or "allow_pickle=True" in p.read_text()]
    assert not offenders


HOSTILE = [
    "2023-08-07'); DROP TABLE userinfo; --",
    "x\" OR \"1\"=\"1",
    "'; DELETE FROM recommendations WHERE '1'='1",
    "🙂 %s %(week)s ? :w",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_are_bound_as_data(tmp_path, hostile):
    db = SourceDatabase(url=f"sqlite:///{tmp_path / 'source.db'}")
    schema.create_source_tables(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(schema.userinfo), [{"subsr_id": 1, "age_band": "30s"}])
    keep = pd.DataFrame({"week": ["2023-08-07"], "subsr_id": [1], "rank": [1], "program_id": [5], "score": [1.0], "source": ["model"]})
    db.replace_week_rows("recommendations", "2023-08-07", keep)
    frame = keep.assign(week=hostile)
    db.replace_week_rows("recommendations", hostile, frame)
    with db.engine.connect() as conn:
        weeks = sorted(r[0] for r in conn.execute(sa.text("select week from recommendations")))
        assert conn.execute(sa.text("select count(*) from userinfo")).scalar_one() == 1
    assert weeks == sorted(["2023-08-07", hostile])
    with pytest.raises(ValueError, match="unknown table"):
        db.read_table(hostile)
