"""Temporal targets and warm starts from already stylized neighbours (Ruder et al. Sec. 3.1–3.2).

numpy in, numpy out: images H×W×3 float32 in 0–255, weights H×W float32 in [0, 1].
"""
from __future__ import annotations

import cv2
import numpy as np



# The "every" rule's check of a farther frame's flow (``source_agreement``): how far (levels on 0–255, RMS
# over the channels, 3×3 mean) the source frame t−j brought in by that flow may differ from frame t
# before the pull toward t−j fades. With a right flow the two differ by noise and resampling, a few
# levels; a long flow gone wrong (another object's picture four frames back) by tens. The change of light
# is not taken out: its estimate (a low-pass band) would absorb a large wrong region too; where the light
# moves by more than this over two to four frames (a fast fade) the far pulls fade and the pull toward
# t−1, relit, remains. Measured on the source, not on the paint, so it does not depend on the painting's
# contrast or the size (a threshold on the paint's own departure, 15 levels, tried first, let go of the
# drift itself on high-contrast paint at 48 px and lost the gain). docs/performance.md, "Long-term
# targets on every pixel".
SOURCE_LEVELS = 20.0


def long_term_weights(weights: dict[int, np.ndarray], rule: str = "nearest") -> dict[int, np.ndarray]:
    """The weight of each long-term target per pixel. ``weights``: offset j → c(t−j), H×W in [0, 1].

    "nearest", Ruder et al. eq. 8: c_long(t−j) = max(c(t−j) − Σ_{k∈J, k<j} c(t−k), 0), so each pixel
    follows the closest earlier frame in which it was visible. "every": c(t−j) itself, so a pixel is held
    to each earlier frame where it was visible, and the frames further back damp the drift that a chain
    of one-frame pulls lets add up."""
    if rule == "every":
        return dict(sorted(weights.items()))
    out, covered = {}, None
    for j in sorted(weights):
        c = weights[j]
        out[j] = c if covered is None else np.maximum(c - covered, 0.0)
        covered = c.copy() if covered is None else covered + c
    return out


def source_agreement(frame: np.ndarray, earlier_warped: np.ndarray) -> np.ndarray:
    """H×W in [0, 1]: 1 where the source frame t−j brought into frame t by the flow (``earlier_warped``)
    shows what frame t shows, fading (Gaussian) as they differ by more than SOURCE_LEVELS: there the flow
    is wrong, whatever the consistency check said."""
    f, e = frame.astype(np.float32), earlier_warped.astype(np.float32)
    apart = cv2.blur(np.sqrt(((f - e) ** 2).mean(-1)), (3, 3))
    return np.exp(-(apart / SOURCE_LEVELS) ** 2).astype(np.float32)


# The starts that begin from the warped previous result (a warm start: fewer iterations, the temporal term).
WARM_STARTS = ("warped", "prevwarped", "matched")


def init_image(kind: str, content: np.ndarray, warped: np.ndarray | None, weight: np.ndarray | None,
               rng: np.random.Generator) -> np.ndarray:
    """Starting image of the optimization.

    'prevwarped': the warped previous result where it is reliable, the content frame where it is not
    (blended by c, so disocclusions start from the frame rather than from smeared paint);
    'matched': the same, the content frame in the previous result's colours (``matched_colours``);
    'warped': the warped previous result everywhere (the paper's prevWarped; the chunked draft's start);
    'image': the content frame; 'random': the frame's mean colour plus Gaussian noise (σ = 16).
    """
    if kind in ("prevwarped", "matched") and warped is not None:
        c = weight[..., None]
        fill = matched_colours(content, warped, weight) if kind == "matched" else content
        return (c * warped + (1.0 - c) * fill).astype(np.float32)
    if kind == "warped" and warped is not None:
        return warped.astype(np.float32)
    if kind == "random":
        mean = content.reshape(-1, 3).mean(0)
        return (mean + 16.0 * rng.standard_normal(content.shape)).astype(np.float32)
    return content.astype(np.float32)


# Pixels at least this reliable teach the colour map of 'matched', and at least this many of them (a
# share of the frame, and never fewer than MATCH_LEAST) are needed; fewer: the frame as it is.
MATCH_RELIABLE = 0.9
MATCH_SHARE = 0.01
MATCH_LEAST = 64


def matched_colours(content: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``content`` in ``warped``'s colours: the affine map (3×3 and an offset, least squares) that takes
    the frame to the warped previous result where the flow is reliable, applied to the whole frame.

    Why (the student's keyframes): a warm keyframe is chosen where much of the picture is new, and the
    new part starts from the frame; the keyframe's few iterations leave it less painted, the next keyframe
    carries that in and its temporal term holds it, so the style fell along the chain of keyframes (1.00 →
    1.15× the single pass's over five keyframes at 128 px). Started in the painting's palette, the new
    picture only has to gain its strokes (docs/performance.md, "The new picture in the painting's
    colours")."""
    sel = weight >= MATCH_RELIABLE
    n = int(sel.sum())
    if n < max(MATCH_LEAST, MATCH_SHARE * sel.size):
        return content
    ones = np.ones((n, 1), np.float64)
    fit, *_ = np.linalg.lstsq(np.concatenate([content[sel].astype(np.float64), ones], 1),
                              warped[sel].astype(np.float64), rcond=None)
    flat = content.reshape(-1, 3).astype(np.float64)
    mapped = flat @ fit[:3] + fit[3]
    return np.clip(mapped, 0.0, 255.0).reshape(content.shape).astype(np.float32)


# The low-pass band the light is followed in: Gaussian σ as a fraction of the frame's longer side. Wide
# enough that brush strokes and flow errors are averaged out, narrow enough that a lamp in one corner
# stays in its corner (at 256 px: σ ≈ 10 px).
LIGHT_SIGMA = 0.04


def light_change(frame: np.ndarray, earlier_warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The source's own change of light from an earlier frame (warped into this one) to ``frame``, in
    its low-pass band: H×W×3 float32 on 0–255. Measured only where the flow is reliable (normalized
    convolution by ``weight``), so occlusions and motion boundaries, which differ by content and not by
    light, do not count; where no reliable pixel is near, no change is assumed."""
    sigma = LIGHT_SIGMA * max(frame.shape[:2])
    c = weight.astype(np.float32)
    d = (frame.astype(np.float32) - earlier_warped.astype(np.float32)) * c[..., None]
    num = cv2.GaussianBlur(d, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(c, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    # den is the share of reliable pixels nearby: below 5 % the estimate rests on too few of them and is
    # faded out toward "no change" (the 1e-3 floor only keeps the division finite).
    return (num / np.maximum(den, 1e-3)[..., None] * np.minimum(den / 0.05, 1.0)[..., None]).astype(np.float32)


def relight(warped: np.ndarray, change: np.ndarray, gain: float) -> np.ndarray:
    """An earlier stylized frame warped into this one, with ``gain`` × the source's change of light
    (``light_change``) added: the warm start and the temporal target then carry this frame's light
    instead of holding the old one."""
    return np.clip(warped + gain * change, 0.0, 255.0).astype(np.float32)
