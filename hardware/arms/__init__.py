"""Physical arms: lerobot followers (`lerobot_arm`) in the twin's units, servo health, serial ports.

Nothing here imports lerobot at import time; `LeRobotArm.connect()` does.
"""
