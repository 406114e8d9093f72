"""Size limits checked from file headers, before anything is decoded in full.

A compressed image or video stream can claim any size: a 50 kB PNG can declare 40000×40000 pixels (a
"decompression bomb") and decoding it would allocate gigabytes before any later check could run. Readers call
`check_pixels` with the dimensions from the header, so such a file is refused with one line instead.
"""

from ..errors import InputError

# 400 megapixels per frame or style image. The largest real material is well below it: 16K video
# (15360×8640) is 133 MP, a 16384×16384 texture or scan is 268 MP, a 20000×20000 gigapan tile 400 MP.
# An RGB uint8 image of this size is 1.2 GB, its float32 copy 4.8 GB — past that, no machine videostyle
# targets gets through a frame, so a larger claim is far more likely a broken or hostile file than a frame.
MAX_PIXELS = 400_000_000


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse a `width`×`height` image or frame (named `what` in the message) above MAX_PIXELS."""
    pixels = int(width) * int(height)
    if pixels > MAX_PIXELS:
        raise InputError(
            f"{what} is {int(width)}x{int(height)} ({pixels / 1e6:.0f} megapixels), more than videostyle "
            f"accepts ({MAX_PIXELS / 1e6:.0f} megapixels); scale it down first or check that the file is not "
            "corrupt")
