"""Layer 2, I/O: video files (PyAV), image sequences, frame ranges, input limits, the paths a run writes,
atomic writes, resizing and the bundled assets. numpy in and out; no torch, no flow, no method."""
