"""The calibration-text reader shared by the calibrating methods."""

from __future__ import annotations

import pytest

from compressors.errors import ConfigError
from compressors.methods._calibration import check_suffix, read_texts, texts_for


def test_reads_jsonl_csv_tsv_json_and_txt(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    (tmp_path / "a.csv").write_text("id,body\n1,one\n2,two\n")
    (tmp_path / "a.tsv").write_text("body\tid\none\t1\ntwo\t2\n")
    (tmp_path / "a.json").write_text('[{"text": "one"}, {"text": "two"}]')
    (tmp_path / "a.txt").write_text("one\n\ntwo\n")
    for name, column in [("a.jsonl", "text"), ("a.csv", "body"), ("a.tsv", "body"), ("a.json", "text"),
                         ("a.txt", "ignored")]:
        assert read_texts(tmp_path / name, text_column=column, num_samples=10) == ["one", "two"], name


def test_takes_the_first_num_samples(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("\n".join(f"t{i}" for i in range(10)))
    assert read_texts(tmp_path / "a.txt", text_column="text", num_samples=3) == ["t0", "t1", "t2"]


def test_errors_name_the_file_line_and_column(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_texts(tmp_path / "missing.jsonl", text_column="text", num_samples=1)
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(ConfigError, match="bad.jsonl:2: not valid JSON"):
        read_texts(tmp_path / "bad.jsonl", text_column="text", num_samples=5)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ConfigError, match="no non-empty texts"):
        read_texts(tmp_path / "empty.txt", text_column="text", num_samples=5)
    with pytest.raises(ValueError, match="expected a .jsonl"):
        check_suffix("data.parquet", "calibration")


def test_without_a_calibration_file_the_step_stops_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="calibration is required"):
        texts_for(None, text_column="text", num_samples=2, where="calibration")
