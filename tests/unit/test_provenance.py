import json

from ebpm_analysis import provenance


def test_record_input_hash_and_run_log(tmp_path, monkeypatch):
    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    log = tmp_path / "run.jsonl"
    monkeypatch.setenv("EBPM_RUN_LOG", str(log))
    e = provenance.record_input(f, "synthetic", dataset="t")
    import hashlib
    assert e["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    rec = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert rec["nature"] == "synthetic" and rec["bytes"] == 8


def test_data_nature():
    assert provenance.data_nature([{"nature": "real"}]) == "real"
    assert provenance.data_nature([{"nature": "real"}, {"nature": "synthetic"}]) == "mixed"
    assert provenance.data_nature([{"nature": "synthetic"}]) == "synthetic"
    assert provenance.data_nature([]) == "none"


def test_suspended_reads_are_not_inputs(tmp_path, monkeypatch):
    f = tmp_path / "calib.csv"
    f.write_text("x\n", encoding="utf-8")
    log = tmp_path / "run.jsonl"
    monkeypatch.setenv("EBPM_RUN_LOG", str(log))
    with provenance.suspended():
        assert provenance.record_input(f) is None
    assert not log.exists()
    provenance.record_input(f)
    assert log.exists()
