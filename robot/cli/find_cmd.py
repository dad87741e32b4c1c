"""`robot find-port` and `robot find-cameras`: locate an arm's serial port and the connected cameras.

    robot find-port                 # lists serial ports, asks you to unplug the arm, names its port
    robot find-port --list          # only list the serial ports
    robot find-cameras [--kind opencv|realsense] [--snapshot DIR]

As LeRobot users know them (`lerobot-find-port`, `lerobot-find-cameras`).
`find-cameras` prints one line per camera with the config keys to use
(`kind`, `source` or `serial`, size, fps); `--snapshot` saves a frame of each.
"""

from __future__ import annotations

import argparse
import sys


def add_port_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot find-port`."""
    parser.add_argument("--list", action="store_true", help="only list the serial ports, do not ask")


def run_port(args: argparse.Namespace) -> int:
    """List ports, or find the arm's by unplugging it."""
    from hardware.arms.ports import find_port_interactive, list_serial_ports

    if args.list:
        ports = list_serial_ports()
        print("\n".join(ports) if ports else "no serial ports found (is the arm's USB cable plugged in?)")
        return 0
    if not sys.stdin.isatty():
        print("robot find-port: needs a terminal to ask you to unplug the arm; use --list instead", file=sys.stderr)
        return 2
    return 0 if find_port_interactive() else 1


def add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot find-cameras`."""
    parser.add_argument("--kind", choices=("opencv", "realsense"), default=None, help="only this kind")
    parser.add_argument("--snapshot", default="", help="save one PNG per camera into this folder")


def find_cameras(kind: str | None = None) -> list[dict[str, object]]:
    """Cameras connected now: OpenCV/V4L2 devices and RealSense serials (each a dict of config keys)."""
    found: list[dict[str, object]] = []
    if kind in (None, "realsense"):
        try:
            import pyrealsense2 as rs
        except ImportError:
            if kind == "realsense":
                raise ImportError("finding RealSense cameras needs pyrealsense2: pip install -e .[realsense]") from None
        else:
            for dev in rs.context().query_devices():
                found.append({"kind": "realsense", "serial": dev.get_info(rs.camera_info.serial_number),
                              "name": dev.get_info(rs.camera_info.name)})
    if kind in (None, "opencv"):
        from hardware.cameras.opencv import list_opencv_cameras

        found.extend(list_opencv_cameras())
    return found


def run_cameras(args: argparse.Namespace) -> int:
    """Print the cameras found (and optionally a snapshot of each)."""
    try:
        cams = find_cameras(args.kind)
    except ImportError as e:
        print(f"robot find-cameras: {e}", file=sys.stderr)
        return 2
    if not cams:
        print("no cameras found")
        return 0
    for cam in cams:
        print("  ".join(f"{k}={v}" for k, v in cam.items()))
    if args.snapshot:
        _snapshots(cams, args.snapshot)
    return 0


def _snapshots(cams: list[dict[str, object]], folder: str) -> None:
    from pathlib import Path

    import imageio.v2 as imageio

    from hardware.cameras import CameraError, make_camera

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i, cam in enumerate(cams):
        keys = {k: v for k, v in cam.items() if k in ("source", "serial", "width", "height")}
        try:
            with make_camera(str(cam["kind"]), f"cam{i}", **keys) as c:
                path = out / f"cam{i}_{cam['kind']}.png"
                imageio.imwrite(path, c.read_latest()[0])
                print(f"saved {path}")
        except CameraError as e:
            print(f"no snapshot of {cam}: {e}")
