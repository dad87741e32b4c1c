"""Emulated hardware for tests, CI and dry runs: a Feetech servo bus (`hardware.emulators.feetech`)."""
