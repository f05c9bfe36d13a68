"""WeSAM's two augmentations, on ``H x W x 3 uint8`` RGB arrays (numpy + OpenCV).

* weak (teacher and anchor view): random horizontal and vertical flips; geometry changes,
  so prompts and masks are flipped with it (:meth:`WeakPrompts.flipped`);
* strong (student view), applied *on top of* the weak view so both views share geometry
  and the teacher's mask is a pixel-aligned pseudo-label: posterize, equalize, sharpen,
  solarize, brightness/contrast and a random shadow, each with probability 0.5 and the
  default ranges of the albumentations transforms upstream uses (re-implemented here to
  avoid the dependency).
"""

from __future__ import annotations

import numpy as np


def _cv2():  # type: ignore[no-untyped-def]
    import cv2

    return cv2


def weak_augment(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool, bool]:
    """Flip left-right and/or up-down (each p=0.5); returns the image and both flags."""
    h_flip = bool(rng.random() < 0.5)
    v_flip = bool(rng.random() < 0.5)
    out = image
    if h_flip:
        out = out[:, ::-1]
    if v_flip:
        out = out[::-1]
    return np.ascontiguousarray(out), h_flip, v_flip


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """Keep the ``bits`` most significant bits of each channel."""
    mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
    return img & mask


def equalize(img: np.ndarray) -> np.ndarray:
    """Per-channel histogram equalisation."""
    cv2 = _cv2()
    return np.stack(
        [cv2.equalizeHist(np.ascontiguousarray(img[..., c])) for c in range(3)], axis=-1
    )


def sharpen(img: np.ndarray, alpha: float, lightness: float) -> np.ndarray:
    """Blend the identity kernel with a sharpening kernel (albumentations' ``Sharpen``)."""
    cv2 = _cv2()
    k = np.array([[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], dtype=np.float32)
    ident = np.zeros((3, 3), np.float32)
    ident[1, 1] = 1.0
    kernel = (1 - alpha) * ident + alpha * k
    out = cv2.filter2D(img.astype(np.float32), -1, kernel)
    return np.clip(out, 0, 255).astype(np.uint8)


def solarize(img: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Invert every value at or above ``threshold``."""
    return np.where(img >= threshold, 255 - img, img).astype(np.uint8)


def brightness_contrast(img: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """``img * (1 + contrast) + 255 * brightness`` (both in [-0.2, 0.2] by default)."""
    out = img.astype(np.float32) * (1.0 + contrast) + 255.0 * brightness
    return np.clip(out, 0, 255).astype(np.uint8)


def random_shadow(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken one or two random pentagons in the lower half (halves the lightness)."""
    cv2 = _cv2()
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        xs = rng.uniform(0, w, 5)
        ys = rng.uniform(h / 2, h, 5)
        poly = np.stack([xs, ys], 1).astype(np.int32)
        cv2.fillPoly(mask, [cv2.convexHull(poly)], 1)
    hls = cv2.cvtColor(img, cv2.COLOR_RGB2HLS)
    light = hls[..., 1]
    hls[..., 1] = np.where(mask > 0, (light.astype(np.float32) * 0.5).astype(np.uint8), light)
    return cv2.cvtColor(hls, cv2.COLOR_HLS2RGB)


def strong_augment(image: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """The student's photometric augmentation chain (geometry is left unchanged)."""
    out = np.ascontiguousarray(image)
    if rng.random() < p:
        out = posterize(out, int(rng.integers(4, 9)))
    if rng.random() < p:
        out = equalize(out)
    if rng.random() < p:
        out = sharpen(out, float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.5, 1.0)))
    if rng.random() < p:
        out = solarize(out, 128)
    if rng.random() < p:
        out = brightness_contrast(out, float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2)))
    if rng.random() < p:
        out = random_shadow(out, rng)
    return out
