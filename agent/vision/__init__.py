"""Vision: cameras, models and detectors, run in their own process (DESIGN §2).

camera ─► detectors (faces, plates) ─► tracker ─► Event ─(pipe)─► the daemon's outbox

Images are BGR uint8 arrays (OpenCV's order, and what picamera2's RGB888 holds in memory).
"""
