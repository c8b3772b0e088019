"""Set-up builds llama.cpp for a GPU only when the NVIDIA driver lists one: a CUDA compiler on a
machine without a GPU (CI images, build hosts) must get the CPU build, not a failed one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SCRIPT = ROOT / "scripts" / "llama-cpp"
TOOLS = ("bash", "grep", "cat", "cut", "cksum", "uname", "printf", "env")
NO_GPU = "#!/bin/sh\necho 'No devices were found'\nexit 6\n"
ONE_GPU = "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-5d1c8f2e)'\n"
NVCC = "#!/bin/sh\necho 'Cuda compilation tools, release 13.0'\n"


def decide(tmp_path: Path, **fakes: str) -> tuple[str, str]:
    """Run the decision with a PATH holding only the basic tools and the given fake programs,
    so that whatever this machine has installed does not leak in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    for name, body in fakes.items():
        fake = bin_dir / name.replace("_", "-")
        fake.write_text(body)
        fake.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT), "backend"], env=env, capture_output=True, text=True, check=True
    )
    backend, reason = done.stdout.rstrip("\n").split("\t")
    return backend, reason


def test_a_cuda_compiler_without_a_gpu_gets_the_cpu_build(tmp_path: Path) -> None:
    assert decide(tmp_path, nvcc=NVCC) == (
        "cpu",
        "nvcc is installed, but no GPU is listed by the NVIDIA driver",
    )


def test_a_driver_that_lists_no_gpu_gets_the_cpu_build(tmp_path: Path) -> None:
    backend, _ = decide(tmp_path, nvcc=NVCC, nvidia_smi=NO_GPU)
    assert backend == "cpu"


def test_a_listed_gpu_with_the_compiler_gets_the_cuda_build(tmp_path: Path) -> None:
    assert decide(tmp_path, nvcc=NVCC, nvidia_smi=ONE_GPU) == ("cuda", "the NVIDIA driver lists 1 GPU(s)")


def test_a_listed_gpu_without_the_compiler_says_what_is_missing(tmp_path: Path) -> None:
    backend, reason = decide(tmp_path, nvidia_smi=ONE_GPU)
    assert backend == "cpu"
    assert "nvcc" in reason


def test_nothing_at_all_is_a_cpu_build(tmp_path: Path) -> None:
    assert decide(tmp_path) == ("cpu", "no GPU")


def test_this_machine_got_the_build_its_hardware_calls_for() -> None:
    """The set-up that made this venv: the llama.cpp it loads was built for the backend the
    decision gives on this machine (on CI: a CPU build, where nvcc is installed and no GPU is)."""
    import llama_cpp

    backend, _ = (
        subprocess.run(["bash", str(SCRIPT), "backend"], capture_output=True, text=True, check=True)
        .stdout.rstrip("\n")
        .split("\t")
    )
    lib = Path(llama_cpp.__file__).parent / "lib"
    built_for_cuda = (lib / "libggml-cuda.so").exists()
    assert built_for_cuda == (backend == "cuda"), sorted(p.name for p in lib.iterdir())
    assert (lib / "libllama.so").exists()


def test_without_llama_server_ps_and_serve_say_why_local_models_run_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What set-up recorded when the engine could not be built is what `ps` and `serve` repeat,
    and serve then keeps local models in-process."""
    from click.testing import CliRunner

    from weighbridge.cli import cli
    from weighbridge.cli.serve import _engines
    from weighbridge.config import load_settings

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "llama-server.missing").write_text("cmake is not installed and could not be installed\n")
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setenv("PATH", str(venv / "bin"))
    monkeypatch.delenv("WEIGHBRIDGE_LLAMA_SERVER", raising=False)

    listed = CliRunner().invoke(cli, ["ps"])
    assert listed.exit_code == 0
    note = "note: no llama-server (cmake is not installed and could not be installed): serve runs local models in-process, one request at a time"
    assert listed.stderr.strip() == note
    assert "no engines running" in listed.stdout

    settings = load_settings()
    store = settings.open_store()
    try:
        assert _engines(settings, store) is None
    finally:
        store.close()
    assert capsys.readouterr().err.strip() == note
