"""What the video modules share: the containers written, the colour tags, the matrix of untagged
frames, and PyAV's errors as one line."""
from __future__ import annotations

import av

# Output container for each video file extension we write.
VIDEO_FORMATS = {
    ".mp4": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".gif": "gif",
}

# FFmpeg's AVColorSpace / primaries / transfer values, and AVColorRange for limited range.
# YUV output is BT.709 and tagged so; MPEG-4 part 2 has no place for the tag (and AVI none
# either): its frames are read as untagged video is (untagged_matrix).
BT709 = 1
UNSPECIFIED = 2
SMPTE170M = 6  # BT.601 525-line
LIMITED_RANGE = 1


def untagged_matrix(width: int, height: int) -> str:
    """The YUV matrix of a video whose frames do not say theirs: BT.709 for HD (1280 wide or more, or
    taller than 576 lines), BT.601 for SD, as players show them (mpv, VLC, browsers, QuickTime).
    FFmpeg's converter assumes BT.601 at any size: an untagged HD camera file read that way has its
    greens pushed up by some 30 levels (0, 200, 0 read as 15, 234, 5), and the stylized frames, tagged
    BT.709, would not look like the input in the user's player."""
    return "ITU709" if width >= 1280 or height > 576 else "ITU601"


AV_ERRORS = (av.FFmpegError, OSError)


def reason(e: BaseException) -> str:
    """One-line reason from a PyAV/OS error."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())
