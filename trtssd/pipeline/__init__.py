"""Run loops: the synchronous loop (trt_ssd.py) and the threaded producer/consumer (trt_ssd_async.py)."""
