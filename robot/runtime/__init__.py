"""Real-time runtime: fixed-rate loop, chunk executor, safety, watchdog, recorder hook."""
