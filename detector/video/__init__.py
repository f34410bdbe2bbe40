"""Edge video in the encoded domain: packet contract, PyAV and OpenCV sources."""
