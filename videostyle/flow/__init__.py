"""Layer 3, optical flow: estimation and the consistency check (OpenCV), .flo files, and the one place the
flow convention lives (warp). numpy in and out; below it only I/O."""
