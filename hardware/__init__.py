"""Hardware: teleop devices (`hardware.teleop`), later the MuJoCo twin, LeRobot arms and cameras.

SDKs (lerobot, hidapi, evdev, pyrealsense2) are imported inside the backend
that needs them, so importing this package needs none of them.
"""
