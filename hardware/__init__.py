"""Hardware: teleop devices (`hardware.teleop`), the MuJoCo twin (`hardware.twin`; `make_robot` in
`hardware.registry`), later LeRobot arms and cameras.

SDKs (lerobot, hidapi, evdev, pyrealsense2) are imported inside the backend
that needs them, so importing this package needs none of them.
"""
