"""Safe loading: safetensors or weights_only, never unpickling code; state-dict unwrapping."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import FakeServer, sha
from zoo.errors import WeightsError
from zoo.weights import load_state_dict, resolve, safe_torch_load

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server


class _CodePayload:
    """Unpickling this calls ``open(marker, "w")``: a visible side effect if code runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_pickle_with_code_is_refused_and_not_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    # Positive control: the payload really does run under plain pickle.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CodePayload(control), protocol=2)).close()
    assert control.exists()

    marker = tmp_path / "pwned"
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps({"model": _CodePayload(marker)}, protocol=2))
    zipped = tmp_path / "evil.pt"
    torch.save({"model": _CodePayload(marker)}, zipped)

    for path in (raw, zipped):
        with pytest.raises(WeightsError, match="refusing to unpickle") as info:
            safe_torch_load(path)
        assert str(path) in str(info.value) and "safetensors" in str(info.value)
        with pytest.raises(WeightsError, match="refusing"):
            load_state_dict(path)
    assert not marker.exists()


def test_truncated_and_garbage_checkpoints_are_corrupt(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.zeros(1000)}}, good)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a checkpoint")

    for path in (truncated, garbage):
        with pytest.raises(WeightsError, match="corrupt") as info:
            safe_torch_load(path)
        assert str(path) in str(info.value) and "zoo pull" in str(info.value)


def test_safetensors_roundtrip_keeps_fp16_subnormals(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    sub = torch.tensor([5.9604645e-08, 6.0e-05, -1.2e-07, 0.0], dtype=torch.float16)
    assert sub[0].item() != 0.0 and sub[0].abs() < torch.finfo(torch.float16).tiny
    sd = {"enc.w": sub, "enc.b": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)}
    st = tmp_path / "w.safetensors"
    save_file(sd, str(st))
    blob_like = tmp_path / "sha256-blob"  # the blob store has no extensions: sniffed by header
    blob_like.write_bytes(st.read_bytes())

    for path in (st, blob_like):
        loaded = load_state_dict(path)
        assert set(loaded) == set(sd)
        for k, v in sd.items():
            assert loaded[k].dtype == v.dtype
            assert torch.equal(loaded[k].view(torch.int16), v.view(torch.int16))


def test_load_state_dict_unwrapping(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    sd = {"w": torch.tensor([5.9604645e-08], dtype=torch.float16), "b": torch.ones(2)}

    def saved(obj: Any, name: str) -> Path:
        path = tmp_path / name
        torch.save(obj, path)
        return path

    for obj, key in [
        ({"model": sd, "epoch": 3}, "model"),
        ({"state_dict": sd, "optimizer": {"lr": 0.1}}, "model"),
        ({"ema": sd, "model": {"other": torch.zeros(1)}}, "ema"),
        (sd, "model"),
    ]:
        loaded = load_state_dict(saved(obj, "c.pt"), key=key)
        assert set(loaded) == {"w", "b"}
        assert loaded["w"].dtype == torch.float16
        assert loaded["w"].view(torch.int16).item() == sd["w"].view(torch.int16).item() == 1

    with pytest.raises(WeightsError, match="no state dict"):
        load_state_dict(saved({"epoch": 3, "cfg": {"a": 1}}, "n.pt"))
    with pytest.raises(WeightsError, match="not a state dict"):
        load_state_dict(saved([torch.zeros(1)], "l.pt"))


def test_safe_torch_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        safe_torch_load(tmp_path / "absent.pt")


def test_download_then_load_end_to_end(server: FakeServer) -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"model": {"w": torch.full((4,), 0.5)}}, buf)
    data = buf.getvalue()
    server.files["/e2e.pt"] = data
    path = resolve(server.url("/e2e.pt"), sha(data), len(data), progress=False)
    assert torch.equal(load_state_dict(path)["w"], torch.full((4,), 0.5))
