"""SMPTE timecode: a clip's start timecode offset by a number of frames, drop frame counted correctly."""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# HH:MM:SS then the frame field; FFmpeg treats any separator but ":" before the frames as drop frame.
_TIMECODE = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


@dataclass(frozen=True)
class _Timecode:
    fps: int  # nominal frames per second: 30 for 30000/1001
    drop: int  # frame numbers skipped each minute but every tenth (0: non-drop frame)

    @property
    def per_day(self) -> int:
        return 144 * (600 * self.fps - 9 * self.drop)  # 144 ten-minute blocks, each short 9 minutes' drops

    def to_frames(self, h: int, m: int, s: int, f: int) -> int:
        minutes = 60 * h + m
        return (60 * minutes + s) * self.fps + f - self.drop * (minutes - minutes // 10)

    def to_label(self, n: int) -> str:
        if self.drop:
            # Put the skipped numbers back (FFmpeg's av_timecode_adjust_ntsc_framenum2): each ten-minute
            # block loses ``drop`` numbers in each of its last nine minutes.
            per_10 = 600 * self.fps - 9 * self.drop
            tens, rest = divmod(n, per_10)
            n += 9 * self.drop * tens + self.drop * (max(rest - self.drop, 0) // (per_10 // 10))
        s, f = divmod(n, self.fps)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"{h:02d}:{m:02d}:{s:02d}{';' if self.drop else ':'}{f:02d}"


def _timecode_at(timecode: str, rate: Fraction) -> tuple[_Timecode, int]:
    """(counting rules, frame number since 00:00:00:00) of ``timecode`` at ``rate``; ValueError if it is not
    a timecode there."""
    match = _TIMECODE.fullmatch(timecode.strip()) if isinstance(timecode, str) else None
    if match is None:
        raise ValueError(f"not a timecode (HH:MM:SS:FF, or HH:MM:SS;FF for drop frame): {timecode!r}")
    rate = Fraction(rate)
    if rate <= 0:
        raise ValueError(f"timecode needs a positive frame rate, got {rate}")
    fps = (rate.numerator + rate.denominator // 2) // rate.denominator  # rounded half up, as FFmpeg does
    drop = match[4] != ":"
    if drop and fps % 30:
        raise ValueError(f"drop-frame timecode {timecode} needs 29.97 fps or a multiple of it, not {float(rate):g}")
    counting = _Timecode(fps, fps // 15 if drop else 0)  # 2 numbers a minute at 29.97, 4 at 59.94
    h, m, s, f = (int(match[i]) for i in (1, 2, 3, 5))
    if h > 23 or m > 59 or s > 59 or f >= fps:
        raise ValueError(f"timecode {timecode} is out of range at {float(rate):g} fps")
    if counting.drop and s == 0 and m % 10 and f < counting.drop:
        raise ValueError(f"drop-frame timecode {timecode} does not exist: frames 0-{counting.drop - 1} "
                         "are skipped at every minute but every tenth")
    return counting, counting.to_frames(h, m, s, f)


def offset_timecode(timecode: str, rate: Fraction, frames: int) -> str:
    """The timecode ``frames`` frames after ``timecode`` (earlier if negative) at ``rate`` frames per second,
    wrapping around 24 hours: a render that starts at frame 100 of a clip starts at the clip's timecode
    + 100 frames.

    Frames are counted at the nominal rate (``rate`` rounded: 30 for 30000/1001). A drop-frame timecode
    (";", "." or "," before the frames) is counted as drop frame, correctly: at 29.97 fps frame numbers 0
    and 1 are skipped at each minute except every tenth (0-3 at 59.94), and the result is written with ";".
    Drop frame at a rate that is not a multiple of 29.97 raises ValueError, as does a malformed or
    out-of-range timecode (including a drop-frame label that is skipped, e.g. 00:01:00;00)."""
    counting, start = _timecode_at(timecode, rate)
    return counting.to_label((start + int(frames)) % counting.per_day)
