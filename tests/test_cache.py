"""The result cache: keyed on everything that computes a result, and a damaged entry
is reported and recomputed, never a crash and never a wrong figure."""
import json
import zipfile

import numpy as np
import pytest

import testbed.cache as cache
from testbed.claims import quadratic_stability as qs
from testbed.claims._base import evaluate


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path))
    return tmp_path


def _compute(counter):
    def compute():
        counter.append(1)
        return {"eta": np.arange(5.0), "status": np.array([1, 4], np.int8)}
    return compute


def _entry(results):
    calls = []
    cache.cached("g", {"a": 1}, _compute(calls))
    (npz,) = results.glob("g/*.npz")
    return npz, calls


def _foreign(path):
    np.savez(path, other=np.zeros(3))


def _bit_flip(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def _pickled(path):
    np.savez(path, eta=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(b""),                              # empty
    lambda p: p.write_bytes(p.read_bytes()[:40]),              # truncated
    _bit_flip, _foreign, _pickled,
    lambda p: p.with_suffix(".json").unlink(),                 # sidecar lost
    lambda p: p.with_suffix(".json").write_text("{"),          # sidecar unreadable
])
def test_damaged_entry_is_reported_and_recomputed(results, damage):
    npz, calls = _entry(results)
    damage(npz)
    again = []
    with pytest.warns(UserWarning, match="damaged"):
        data = cache.cached("g", {"a": 1}, _compute(again))
    assert again == [1]
    np.testing.assert_array_equal(data["eta"], np.arange(5.0))
    ok = []                                                    # and sound again after
    cache.cached("g", {"a": 1}, _compute(ok))
    assert ok == []


def test_sound_entry_is_reused(results):
    _, calls = _entry(results)
    again = []
    data = cache.cached("g", {"a": 1}, _compute(again))
    assert calls == [1] and again == []
    assert data["status"].dtype == np.int8


def test_key_follows_the_code_and_the_perturbation(monkeypatch):
    base = cache.key_of({"a": 1})
    monkeypatch.setattr(cache, "code_hash", lambda: "another-code")
    assert cache.key_of({"a": 1}) != base
    monkeypatch.undo()
    monkeypatch.setenv("TESTBED_PERTURB", "1e-15")
    assert cache.key_of({"a": 1}) != base


def test_code_hash_covers_engine_catalogue_and_claims():
    from pathlib import Path
    import testbed
    root = Path(testbed.__file__).parent
    assert len(cache.code_hash()) == 16
    # every source the hash reads: the engine's own and the catalogue's
    assert (root / "ensemble.py").exists() and (root / "claims" / "quadratic_stability.py").exists()


@pytest.mark.parametrize("damage", [lambda p: p.write_bytes(b""), _bit_flip, _foreign,
                                    lambda p: p.write_bytes(p.read_bytes()[:100])])
def test_damaged_claim_result_never_breaks_check(results, damage):
    first = evaluate(qs, "quick")
    (npz,) = results.glob("quadratic-stability/*.npz")
    damage(npz)
    with pytest.warns(UserWarning, match="damaged"):
        again = evaluate(qs, "quick")
    assert again["status"] == "pass" and again["criteria"] == first["criteria"]


def test_sidecar_records_parameters_code_and_hash(results):
    npz, _ = _entry(results)
    meta = json.loads(npz.with_suffix(".json").read_text())
    assert meta["params"]["a"] == 1 and meta["params"]["code"] == cache.code_hash()
    assert meta["keys"] == ["eta", "status"] and len(meta["sha256"]) == 64
    assert zipfile.is_zipfile(npz)
