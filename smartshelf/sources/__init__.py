"""Frame sources: video files, RTSP/HTTP streams and V4L2 devices, with reconnect."""
