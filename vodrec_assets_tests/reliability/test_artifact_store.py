"""Array artifacts are one self-contained, verified object: never pickled, checked on load (shapes, dtypes,
sha256), and atomic under concurrent writers and readers, on local disk and in S3."""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.resources import MANIFEST_ENTRY, ArtifactIntegrityError, LocalArtifactStore, S3ArtifactStore

KEY = "trained_model/2023-08-07"


def arrays(seed: int, n: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"user_factors": rng.standard_normal((n, 16)).astype(np.float32),
            "item_ids": np.arange(seed, seed + n, dtype=np.int64)}


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on a loopback port (in a thread of this process): real HTTP, concurrent requests."""
    from moto.server import ThreadedMotoServer

    from vodrec_assets_tests.integration.harness import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalArtifactStore(root=str(tmp_path / "artifacts"))
    from dagster_aws.s3 import S3Resource

    resource = S3Resource(endpoint_url=request.getfixturevalue("s3_endpoint"), region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"vodrec-artifacts-{secrets.token_hex(4)}"
    resource.get_client().create_bucket(Bucket=bucket)
    return S3ArtifactStore(s3=resource, bucket=bucket, prefix="vodrec")


def test_round_trip_is_verified_and_byte_identical(store):
    store.write_arrays(KEY, arrays(1), {"week": "2023-08-07"})
    first = store.get_bytes(f"{KEY}.npz")
    loaded, manifest = store.read_arrays(KEY)
    assert manifest["week"] == "2023-08-07" and set(loaded) == {"user_factors", "item_ids"}
    np.testing.assert_array_equal(loaded["user_factors"], arrays(1)["user_factors"])
    assert manifest["arrays"]["item_ids"] == {"shape": [2000], "dtype": "int64",
                                              "sha256": manifest["arrays"]["item_ids"]["sha256"]}
    store.write_arrays(KEY, arrays(1), {"week": "2023-08-07"})
    assert store.get_bytes(f"{KEY}.npz") == first  # same arrays, same bytes: re-runs are idempotent


def _rewrite_entry(blob: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, data if info.filename == name else src.read(info.filename))
    return out.getvalue()


def test_torn_tampered_or_mismatched_artifacts_are_refused(store):
    store.write_arrays(KEY, arrays(1), {"week": "2023-08-07"})
    good = store.get_bytes(f"{KEY}.npz")
    bad_blobs = {
        "truncated (a torn write)": good[: len(good) // 2],
        "empty": b"",
        "one flipped byte in an array": good[:200] + bytes([good[200] ^ 0xFF]) + good[201:],
    }
    # An array swapped for another of the same shape and dtype: only the sha256 can tell.
    entry = io.BytesIO()
    np.lib.format.write_array(entry, arrays(2)["user_factors"], allow_pickle=False)
    bad_blobs["array from another artifact"] = _rewrite_entry(good, "user_factors.npy", entry.getvalue())
    # A pickled object array: refused by np.load(allow_pickle=False), never unpickled.
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    bad_blobs["a pickled object array"] = _rewrite_entry(good, "item_ids.npy", pickled.getvalue())
    for what, blob in bad_blobs.items():
        store.put_bytes(f"{KEY}.npz", blob)
        with pytest.raises(ArtifactIntegrityError):
            store.read_arrays(KEY)
        store.put_bytes(f"{KEY}.npz", good)
    assert store.read_arrays(KEY)[1]["week"] == "2023-08-07", what


def test_object_arrays_are_never_written():
    store = LocalArtifactStore(root="/tmp/unused-vodrec-store")
    with pytest.raises(ValueError):
        store.write_arrays(KEY, {"x": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match="reserved"):
        store.write_arrays(KEY, {MANIFEST_ENTRY: np.zeros(1)}, {})


def test_concurrent_writers_and_readers_never_see_a_mix(store):
    """Two writers rewrite the same week with different models while readers load it: every load is one
    writer's complete artifact, and the last write leaves one complete artifact."""
    versions = {seed: arrays(seed) for seed in (1, 2)}
    store.write_arrays(KEY, versions[1], {"seed": 1})
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            for _ in range(15):
                store.write_arrays(KEY, versions[seed], {"seed": seed})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                loaded, manifest = store.read_arrays(KEY)
                np.testing.assert_array_equal(loaded["user_factors"], versions[manifest["seed"]]["user_factors"])
                np.testing.assert_array_equal(loaded["item_ids"], versions[manifest["seed"]]["item_ids"])
                seen.append(manifest["seed"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(seed,)) for seed in (1, 2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors[:3]
    assert seen and set(seen) <= {1, 2}
    loaded, manifest = store.read_arrays(KEY)
    np.testing.assert_array_equal(loaded["user_factors"], versions[manifest["seed"]]["user_factors"])


KILLED_WRITER = """
import sys, numpy as np
from vodrec_assets.resources import LocalArtifactStore
store = LocalArtifactStore(root=sys.argv[1])
big = {"user_factors": np.random.default_rng(3).standard_normal((1_500_000, 16)).astype(np.float32)}
print("writing", flush=True)
store.write_arrays("trained_model/2023-08-07", big, {"seed": 3})
"""


def test_a_writer_killed_mid_write_leaves_the_previous_artifact_whole(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    store.write_arrays(KEY, arrays(1), {"seed": 1})
    before = store.get_bytes(f"{KEY}.npz")
    folder = tmp_path / "artifacts" / "trained_model"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "artifacts")], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"writing"
        for _ in range(2000):  # kill as soon as the temporary file is there (mid-write), or give up waiting
            if any(p.name.endswith(".tmp") for p in folder.iterdir()):
                break
            threading.Event().wait(0.005)
    finally:
        proc.kill()
        proc.wait()
    # Either the old artifact, untouched, or (if the write won the race) the new one, whole: never a part.
    loaded, manifest = store.read_arrays(KEY)
    assert manifest["seed"] in (1, 3)
    if manifest["seed"] == 1:
        assert store.get_bytes(f"{KEY}.npz") == before
    assert store.list_keys("trained_model/") == [f"{KEY}.json", f"{KEY}.npz"]  # a leftover .tmp is hidden


def test_artifacts_written_before_the_embedded_manifest_still_load_verified(tmp_path):
    """The old layout: a bare .npz and a .json manifest with the file's sha256 (two objects)."""
    import hashlib
    import json

    from vodrec_assets.resources import _deterministic_npz

    store = LocalArtifactStore(root=str(tmp_path))
    legacy = arrays(1)
    blob = _deterministic_npz(legacy)
    manifest = {"week": "2023-08-07", "sha256": hashlib.sha256(blob).hexdigest(),
                "arrays": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in legacy.items()}}
    store.put_bytes(f"{KEY}.npz", blob)
    store.put_bytes(f"{KEY}.json", json.dumps(manifest).encode())
    loaded, read_manifest = store.read_arrays(KEY)
    assert read_manifest["week"] == "2023-08-07"
    np.testing.assert_array_equal(loaded["item_ids"], legacy["item_ids"])
    store.put_bytes(f"{KEY}.npz", _deterministic_npz(arrays(2)))  # the pair no longer matches
    with pytest.raises(ArtifactIntegrityError, match="checksum"):
        store.read_arrays(KEY)


def test_open_parquet_reads_the_same_table_as_read_parquet(store):
    frame = pd.DataFrame({"subsr_id": np.arange(50, dtype=np.int64), "rating": np.linspace(0, 1, 50)})
    store.write_parquet("cleaned_ratings/2023-08-07.parquet", frame)
    with store.open_parquet("cleaned_ratings/2023-08-07.parquet") as pf:
        assert pf.metadata.num_rows == 50
        pd.testing.assert_frame_equal(pf.read(columns=["rating"]).to_pandas(), frame[["rating"]])
    pd.testing.assert_frame_equal(store.read_parquet("cleaned_ratings/2023-08-07.parquet"), frame)
