"""sam3's registered files through a loopback Hugging Face Hub that gates ``facebook/sam3``
the way the real one does (401 without a token, 403 with one not granted): the one-line
errors, HF_TOKEN, the config and tokenizer files, offline mode and local checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests import weights_loopback as loopback
from tests.weights_loopback import FakeServer
from zoo.errors import OfflineError, WeightsError
from zoo.testing.cli import assert_user_error, run_cli

isolated_env = loopback.isolated_env
server = loopback.server
hf_server = loopback.hf_server

REPO = "facebook/sam3"
TOKEN = "hf_licence_accepted"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The four files of sam3:base, at test size: weights, config, vocabulary, merges."""
    from safetensors.torch import save_file
    from zoo_sam3.tokenizer import open_clip_bpe, vocab_from_bpe

    model = zoo.load("sam3", weights="random", arch="tiny", seed=5, device="cpu")
    folder = tmp_path_factory.mktemp("sam3_repo")
    state = {k: v.detach().contiguous() for k, v in model.net.video.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    model.net.video.config.to_json_file(str(folder / "config.json"))
    vocab, merges = vocab_from_bpe(open_clip_bpe())
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _serve(hf_server: FakeServer, files: dict[str, bytes], gated: bool = True) -> None:
    for name, data in files.items():
        hf_server.add_hf(REPO, "main", name, data)
    if gated:
        hf_server.gated[REPO] = TOKEN


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)


def test_gated_without_token_is_one_line_with_the_licence_page(
    hf_server: FakeServer, published: dict[str, bytes], tmp_path: Path
) -> None:
    _serve(hf_server, published)
    with pytest.raises(WeightsError) as info:
        zoo.load("sam3", device="cpu")
    message = str(info.value)
    assert "\n" not in message and "facebook/sam3" in message
    assert "https://huggingface.co/facebook/sam3" in message and "checkpoint=PATH" in message
    assert "HTTP 401, no token sent" in message
    from PIL import Image

    Image.fromarray(_image()).save(tmp_path / "photo.png")
    proc = run_cli(
        "run",
        "sam3",
        "--image",
        str(tmp_path / "photo.png"),
        "--boxes",
        "1,1,5,5",
        "--out",
        str(tmp_path / "o"),
    )
    assert_user_error(
        proc, "facebook/sam3", "https://huggingface.co/facebook/sam3", "--checkpoint PATH"
    )
    pulled = run_cli("pull", "sam3")
    assert_user_error(pulled, "facebook/sam3", "https://huggingface.co/facebook/sam3")
    assert "--checkpoint" not in pulled.stderr  # zoo pull has no such option


def test_a_token_not_granted_says_so(
    hf_server: FakeServer, published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve(hf_server, published)
    monkeypatch.setenv("HF_TOKEN", "hf_not_this_one")
    with pytest.raises(WeightsError, match="HTTP 403 with your token: it has not been granted"):
        zoo.load("sam3", device="cpu")


def test_with_the_token_every_registered_file_is_used(
    hf_server: FakeServer, published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights, config.json (here a test-size architecture) and the tokenizer files all come
    from the hub with HF_TOKEN, and the model equals the one the files were written from."""
    _serve(hf_server, published)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    model = zoo.load("sam3", device="cpu")
    assert model.net.layout == "transformers" and model.net.side == 112
    assert set(model.context.files()) == {"model", "config", "vocab", "merges"}
    gets = {s.path.rsplit("/", 1)[-1] for s in hf_server.requests("GET", "/facebook/sam3/")}
    assert gets == {"model.safetensors", "config.json", "vocab.json", "merges.txt"}
    auth = {
        next(v for k, v in s.headers.items() if k.lower() == "authorization")
        for s in hf_server.requests("GET", "/facebook/sam3/")
    }
    assert auth == {f"Bearer {TOKEN}"}
    same = zoo.load("sam3", weights="random", arch="tiny", seed=5, device="cpu")
    img = _image()
    a, b = model.find(img, "a cat", threshold=0.0), same.find(img, "a cat", threshold=0.0)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.masks, b.masks)
    hf_server.reset_log()
    pulled = run_cli("pull", "sam3")  # everything is cached now: nothing is fetched again
    assert pulled.returncode == 0, pulled.stderr
    assert not hf_server.requests("GET")


def test_offline_names_the_file_and_the_way_out(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        zoo.load("sam3", device="cpu")
    message = str(info.value)
    assert "model.safetensors" in message and "checkpoint=PATH" in message and "\n" not in message
    assert hf_server.requests() == []


def test_a_local_checkpoint_needs_no_hub(
    hf_server: FakeServer, published: dict[str, bytes], tmp_path: Path
) -> None:
    """--checkpoint PATH is the way around the gate: the config and tokenizer files are then
    not fetched (the built-in architecture and vocabulary are used)."""
    path = tmp_path / "sam3.safetensors"
    path.write_bytes(published["model.safetensors"])
    model = zoo.load("sam3", checkpoint=path, arch="tiny", device="cpu")
    assert model.weights == str(path)
    from PIL import Image

    Image.fromarray(_image()).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    proc = run_cli(
        "run",
        "sam3",
        "--checkpoint",
        str(path),
        "--arch",
        "tiny",
        "--image",
        str(tmp_path / "photo.png"),
        "--boxes",
        "10,10,50,40",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["provenance"]["weights"] == str(path)
    assert hf_server.requests() == []
