"""Hardware: teleop devices (`hardware.teleop`), the MuJoCo twin (`hardware.twin`; `make_robot` in
`hardware.registry`), lerobot follower arms (`hardware.arms`), cameras (`hardware.cameras`) and
bus / camera emulators (`hardware.emulators`).

SDKs (lerobot, hidapi, evdev, pyrealsense2, opencv) are imported inside the
backend that needs them, so importing this package needs none of them.
"""
