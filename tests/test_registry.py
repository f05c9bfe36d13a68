"""The registry as a third party sees it: entry points, isolation of broken plugins, names."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_user_error, run_zoo, run_zoo_subprocess
from zoo.errors import UnknownModelError
from zoo.registry import build_registry, reset_registry

THIRD_PARTY_PLUGIN = '''
\"\"\"A third-party plugin, written exactly as the README's "Writing a plugin" says.

Two families: ``acme-bright`` has no learned parameters (it thresholds brightness inside
each box); ``acme-pair`` needs two named files (an "encoder" gain and a "decoder" bias).
\"\"\"
from pathlib import Path

import numpy as np

from zoo.hookspecs import hookimpl
from zoo.model import ZooModel
from zoo.specs import FamilySpec, OptionSpec, VariantSpec, WeightsSpec
from zoo.tasks import SegmentationResult, Task, as_prompts

HERE = Path(__file__).parent
CARD = HERE / "acme.md"


class BrightModel(ZooModel):
    tasks = (Task.PROMPTABLE,)

    def __init__(self, threshold, gain=1.0, bias=0.0):
        self.threshold, self.gain, self.bias = threshold, gain, bias
        self._img = None

    @classmethod
    def create(cls, ctx, threshold=128, **config):
        gain = bias = None
        if ctx.has("encoder") and not ctx.random:  # acme-pair: both files resolved by zoo.load
            from safetensors.numpy import load_file

            gain = float(load_file(str(ctx.path("encoder")))["gain"][0])
            bias = float(load_file(str(ctx.path("decoder")))["bias"][0])
        return cls(threshold, 1.0 if gain is None else gain, 0.0 if bias is None else bias)

    def modules(self):
        return []

    def set_image(self, image):
        from zoo.io.images import load_image
        self._img = load_image(image)

    def segment(self, image=None, prompts=None, *, multimask=False):
        if image is not None:
            self.set_image(image)
        p = as_prompts(prompts)
        h, w = self._img.shape[:2]
        p.check_inside(h, w)
        gray = self._img.mean(axis=2) * self.gain + self.bias
        masks = []
        for o in p.objects:
            m = np.zeros((h, w), bool)
            x1, y1, x2, y2 = (int(round(v)) for v in (o.box or (0, 0, w, h)))
            m[y1:y2, x1:x2] = gray[y1:y2, x1:x2] > self.threshold
            masks.append(m)
        return SegmentationResult(masks=np.stack(masks), scores=np.ones(len(masks), np.float32),
                                  image_size=(h, w), provenance=self.provenance(Task.PROMPTABLE),
                                  prompts=p)


class PairModel(BrightModel):
    def num_parameters(self):
        return 2  # a gain and a bias (plain floats: this toy needs no torch)


@hookimpl
def zoo_register_resolvers(register):
    # a company mirror: acme://NAME is a file next to this module
    register("acme", lambda uri, sha256=None: HERE / uri.split("://", 1)[1])


@hookimpl
def zoo_register_commands(app):
    @app.command("acme-hello")
    def hello() -> None:
        """Say hello from the acme plugin."""
        print("hello from acme")


def _file(name):
    import hashlib
    data = (HERE / name).read_bytes()
    return WeightsSpec(uri=(HERE / name).as_uri(), sha256=hashlib.sha256(data).hexdigest(),
                       size=len(data), license="MIT")


@hookimpl
def zoo_register_families(register):
    register(FamilySpec(name="acme-bright", tasks=[Task.PROMPTABLE], loader="acme_zoo:BrightModel",
                        card=str(CARD), default_tag="v1", license="MIT", requires_weights=False,
                        options=[OptionSpec(name="threshold", type="int", model=True,
                                            commands=("run",), help="brightness threshold")],
                        variants=[
                            VariantSpec(family="acme-bright", tag="v1", config={"threshold": 100}),
                            VariantSpec(family="acme-bright", tag="v2", config={"threshold": 200}),
                        ]))
    if (HERE / "enc.safetensors").exists():
        register(FamilySpec(
            name="acme-pair", tasks=[Task.PROMPTABLE], loader="acme_zoo:PairModel",
            card=str(HERE / "acme-pair.md"), default_tag="v1", license="MIT",
            variants=[VariantSpec(family="acme-pair", tag="v1", params=2,
                                  config={"threshold": 100},
                                  checkpoints={"encoder": _file("enc.safetensors"),
                                               "decoder": _file("dec.safetensors")})]))
'''

CARD = """---
license: mit
zoo:
  family: acme-bright
  tasks: [promptable]
  paper: {title: "Thresholding considered sufficient"}
---
# acme-bright
A toy family that proves third-party plugins need no change to sam-zoo.
"""


def make_distribution(root: Path, name: str, module_source: str, ep_name: str, module: str) -> None:
    """A minimal installed distribution: a module plus a .dist-info with entry_points.txt."""
    (root / f"{module}.py").write_text(module_source)
    dist = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[zoo.plugins]\n{ep_name} = {module}\n")
    (dist / "RECORD").write_text(f"{module}.py,,\n")


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "acme-zoo", THIRD_PARTY_PLUGIN, "acme", "acme_zoo")
    (site / "acme.md").write_text(CARD)
    (site / "acme-pair.md").write_text(CARD.replace("acme-bright", "acme-pair"))
    from safetensors.numpy import save_file

    save_file({"gain": np.array([2.0], np.float32)}, str(site / "enc.safetensors"))
    save_file({"bias": np.array([-100.0], np.float32)}, str(site / "dec.safetensors"))
    make_distribution(
        site, "broken-zoo", "raise RuntimeError('boom at import')\n", "broken", "broken_zoo"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site) + ":" + ":".join(sys.path))
    reset_registry()
    yield site
    sys.modules.pop("acme_zoo", None)
    reset_registry()


def test_third_party_family_is_listed_and_broken_plugin_reported(third_party: Path) -> None:
    reg = build_registry()
    assert "acme-bright" in reg.families
    assert {"acme-bright:v1", "acme-bright:v2"} <= set(reg.variants)
    assert reg.families["acme-bright"].source == "acme-zoo"
    broken = [p for p in reg.plugins if p.name == "broken"]
    assert broken and "boom at import" in (broken[0].error or "")
    # the built-in family is still there despite the broken plugin
    assert "sam2" in reg.families


def test_third_party_runs_through_cli(third_party: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 10:40] = 255
    Image.fromarray(img).save(tmp_path / "img.png")
    listing = run_zoo_subprocess("list", "acme*", "--json")
    assert listing.returncode == 0, listing.stderr
    names = [r["name"] for r in json.loads(listing.stdout)]
    assert names == ["acme-bright:v1", "acme-bright:v2", "acme-pair:v1"]
    out = tmp_path / "out"
    proc = run_zoo(
        "run",
        "acme-bright:v1",
        "--image",
        str(tmp_path / "img.png"),
        "--boxes",
        "0,0,50,40",
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    from zoo.io.masks import decode_rle

    res = json.loads((out / "results.json").read_text())
    mask = decode_rle(res[0]["segmentation"])
    assert mask.sum() == 20 * 30 and mask[10:30, 10:40].all()
    plugins = json.loads(run_zoo("plugins", "--json").stdout)
    errors = {p["name"]: p["error"] for p in plugins["plugins"]}
    assert "boom at import" in errors["broken"] and errors["acme"] is None


def test_third_party_two_file_variant_pull_run_and_list(third_party: Path, tmp_path: Path) -> None:
    """Both named files are pulled and verified, sized and cached together, and handed to
    the plugin by zoo.load; the plugin never calls the resolver."""
    rows = {r["name"]: r for r in json.loads(run_zoo("list", "acme*", "--json").stdout)}
    pair = rows["acme-pair:v1"]
    enc, dec = (
        (third_party / "enc.safetensors").stat().st_size,
        (third_party / "dec.safetensors").stat().st_size,
    )
    assert set(pair["files"]) == {"encoder", "decoder"} and pair["size"] == enc + dec
    assert rows["acme-bright:v1"]["params"] is None and rows["acme-bright:v1"]["files"] == {}
    pulled = run_zoo("pull", "acme-pair", "--json")
    assert pulled.returncode == 0, pulled.stderr
    files = json.loads(pulled.stdout)["files"]
    assert set(files) == {"encoder", "decoder"} and files["encoder"]["size"] == enc
    assert "no learned weights" in run_zoo("pull", "acme-bright").stdout
    from PIL import Image

    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 10:40] = 120  # 120 * gain 2 - 100 = 140 > 100: inside only with both files
    Image.fromarray(img).save(tmp_path / "img.png")
    out = tmp_path / "pair"
    proc = run_zoo(
        "run",
        "acme-pair",
        "--image",
        str(tmp_path / "img.png"),
        "--boxes",
        "0,0,50,40",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    from zoo.io.masks import decode_rle

    mask = decode_rle(json.loads((out / "results.json").read_text())[0]["segmentation"])
    assert mask.sum() == 20 * 30
    run = json.loads((out / "run.json").read_text())
    assert set(run["provenance"]["files"]) == {"encoder", "decoder"}
    bad = run_zoo(
        "run",
        "acme-bright",
        "--image",
        str(tmp_path / "img.png"),
        "--boxes",
        "0,0,50,40",
        "--out",
        str(tmp_path / "x"),
        "--threshold",
        "high",
    )
    assert_user_error(bad, "--threshold", "integer")
    assert not (tmp_path / "x").exists()


def test_third_party_families_pass_the_conformance_kit(third_party: Path) -> None:
    """The kit a plugin author runs in their CI, on a parameter-free and a two-file family."""
    import subprocess

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "zoo.testing.conformance",
            "--zoo-family",
            "acme-bright",
            "--zoo-family",
            "acme-pair",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=third_party,
        env={**__import__("os").environ, "ZOO_PLUGINS": "acme"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_plugin_resolver_scheme_and_command(third_party: Path) -> None:
    from zoo import weights

    build_registry()
    assert weights.resolve("acme://acme.md", progress=False) == third_party / "acme.md"
    proc = run_zoo_subprocess("acme-hello")
    assert proc.returncode == 0 and "hello from acme" in proc.stdout, proc.stderr
    assert "acme-hello" in run_zoo_subprocess("--help").stdout


def test_zoo_plugins_env_restricts_loading(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_PLUGINS", "")
    reg = build_registry()
    assert "acme-bright" not in reg.families and "sam2" in reg.families
    monkeypatch.setenv("ZOO_PLUGINS", "acme")
    reg = build_registry()
    assert set(reg.families) == {"acme-bright", "acme-pair"}


def test_family_collision_warns_naming_both(third_party: Path) -> None:
    clash = THIRD_PARTY_PLUGIN.replace("acme_zoo:BrightModel", "acme_twin:BrightModel")
    make_distribution(third_party, "acme-twin", clash, "acme-twin", "acme_twin")
    with pytest.warns(UserWarning, match="acme-zoo.*acme-twin|acme-twin.*acme-zoo"):
        reg = build_registry()
    assert reg.families["acme-bright"].source == "acme-zoo"


def test_name_lookup_default_tag_alias_and_suggestion() -> None:
    reset_registry()
    reg = build_registry()
    _, var = reg.resolve_name("sam2")
    assert var is not None and var.name == "sam2:tiny"
    assert reg.resolve_name("sam2.1-hiera-large")[1].name == "sam2:large"  # type: ignore[union-attr]
    with pytest.raises(UnknownModelError, match="did you mean sam2"):
        reg.resolve_name("sma2:tiny")
    with pytest.raises(UnknownModelError, match="sam2 has base-plus, large, small, tiny"):
        reg.resolve_name("sam2:huge")


def test_list_models_wildcards() -> None:
    from zoo import list_models

    reset_registry()
    assert {"sam2:tiny", "sam2:large"} <= set(list_models("*sam2*"))
    assert list_models("sam2:t*") == ["sam2:tiny"]
    assert list_models("nothing-like-this*") == []
    assert "sam2:tiny" in list_models(task="promptable")


def test_unknown_model_cli_error_suggests() -> None:
    proc = run_zoo("info", "sam2:tinny")
    assert_user_error(proc, "unknown", "sam2:tiny")


def test_list_and_help_do_not_import_torch() -> None:
    import subprocess

    code = textwrap.dedent("""
        import sys
        from zoo.cli import main
        for argv in (["list"], ["--help"], ["info", "sam2:tiny"], ["list", "--json"]):
            try:
                main(argv)
            except SystemExit:
                pass
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


def test_misspelt_hook_is_reported(third_party: Path) -> None:
    """A typo in a hook name would register nothing, silently; `zoo plugins` names it."""
    typo = (
        "from zoo.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef zoo_register_familes(register):\n    pass\n"
    )
    make_distribution(third_party, "typo-zoo", typo, "typo", "typo_zoo")
    reg = build_registry()
    info = {p.name: p for p in reg.plugins}["typo"]
    assert (
        info.error
        and "zoo_register_familes" in info.error
        and "zoo_register_families" in info.error
    )
    plugins = json.loads(run_zoo("plugins", "--json").stdout)
    assert "zoo_register_familes" in {p["name"]: p["error"] for p in plugins["plugins"]}["typo"]
