"""Video files with PyAV (FFmpeg): probing (probe.py), decoding to RGB arrays (decode.py), encoding
from them (write.py) with the source's audio (audio.py) and timecode (timecode.py).

Timestamps stay integers in the stream's fractional time base from input to output, so variable frame
rates and NTSC rates (30000/1001) survive a round trip exactly.
"""
from .audio import AudioSpan
from .common import VIDEO_FORMATS, untagged_matrix
from .decode import decode_video
from .probe import VideoProbe, pixel_aspect_of, probe_video
from .timecode import offset_timecode
from .write import DEFAULT_CRF, VideoWriter, holds_alpha

__all__ = ["AudioSpan", "DEFAULT_CRF", "VIDEO_FORMATS", "VideoProbe", "VideoWriter", "decode_video", "holds_alpha",
           "offset_timecode", "pixel_aspect_of", "probe_video", "untagged_matrix"]
