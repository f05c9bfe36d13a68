"""The lines depth-sam says about a call: slow settings, relaxed thresholds, zero masks.

:meth:`DepthSamModel.segment_rgbd <zoo_depthsam.model.DepthSamModel.segment_rgbd>` puts
them in ``result.extra["notes"]`` (so ``run.json`` keeps them) and says the first two
through its ``progress`` before the slow part (``zoo run`` hands it the core's stage bars);
``zoo eval`` prints them too. Flags are spelt for the surface the user came through
(``--points-per-side 16`` on the command line, ``points_per_side=16`` in Python).
"""

from __future__ import annotations

from typing import Any

from zoo.errors import hint

#: Seconds per prompt point on one CPU core pair (2 threads, this project's machines),
#: measured on the ScanNet fixture: SAM 2 tiny's decoder over a 64-point batch costs about
#: 25 s at a 1024 input and 1 s at 256; with test mode's relaxed thresholds every candidate
#: mask is kept and run-length encoded at the image size (~0.3 s per point at 640x480).
_DECODER_S_PER_POINT_1024 = 0.39
_KEEP_ALL_S_PER_POINT_VGA = 0.3
SLOW_HINT_S = 60.0


def setting(name: str, value: Any = None) -> str:
    """``--points-per-side 16`` (CLI) or ``points_per_side=16`` (Python)."""
    cli = "--" + name.replace("_", "-") + ("" if value is None else f" {value}")
    return hint(cli, name if value is None else f"{name}={value}")


def cpu_estimate_s(
    points_per_side: int, image_size: int, sources: int, keep_all: bool, image_pixels: int
) -> float:
    """Rough CPU seconds of mask generation (what the slow-settings hint quotes)."""
    points = points_per_side**2 * sources
    per_point = _DECODER_S_PER_POINT_1024 * (image_size / 1024) ** 2 + 0.005
    if keep_all:
        per_point += _KEEP_ALL_S_PER_POINT_VGA * image_pixels / (640 * 480)
    return points * per_point


def slow_hint(
    model: Any, device: str, image_pixels: int, sources: int, settings: Any = None
) -> str | None:
    """One line for CPU runs whose settings will take minutes, with faster settings."""
    if device != "cpu":
        return None
    st = settings or model.settings
    pps, size = int(st.points_per_side), int(model.image_size)
    keep_all = st.pred_iou_thresh <= 0 and st.stability_score_thresh <= 0
    est = cpu_estimate_s(pps, size, sources, keep_all, image_pixels)
    if est < SLOW_HINT_S:
        return None
    quick = []
    if pps > 16:
        quick.append(setting("points_per_side", 16))
    if size > 512:
        quick.append(setting("image_size", 512))
    faster = f"; for a quick look add {' '.join(quick)}" if quick else ""
    return (
        f"slow on CPU: {pps}x{pps} prompt points at SAM input {size} is roughly "
        f"{est / 60:.0f} min{faster} (or use a GPU)"
    )


def relaxed_note(model: Any, relaxed: dict[str, dict[str, float]] | None = None) -> str | None:
    """The one line saying which generator thresholds test mode relaxed (``relaxed``: those
    of one call; default: the model's)."""
    relaxed = getattr(model, "test_mode_relaxed", {}) if relaxed is None else relaxed
    if not relaxed:
        return None
    parts = ", ".join(
        f"{k} {v['used']:g} (documented {v['documented']:g})" for k, v in relaxed.items()
    )
    flags = " / ".join(setting(k) for k in relaxed)
    return (
        f"test mode: mask generator thresholds relaxed to {parts} so random weights still "
        f"give masks; set {flags} to choose"
    )


def zero_masks_note(model: Any, test_mode: bool, settings: Any = None) -> str:
    """The one line explaining an empty result."""
    st = settings or model.settings
    if test_mode:
        return (
            "0 masks: expected with random weights (SAM's random scores pass no threshold); "
            f"leave {setting('pred_iou_thresh')}/{setting('stability_score_thresh')} unset in "
            "test mode to see the later stages, or use pretrained weights"
        )
    return (
        f"0 masks: no proposal passed {setting('pred_iou_thresh', f'{st.pred_iou_thresh:g}')}, "
        f"{setting('stability_score_thresh', f'{st.stability_score_thresh:g}')} and "
        f"{setting('min_region_area', st.min_region_area)}; lower them or try "
        f"{setting('mode', 'both')}"
    )
