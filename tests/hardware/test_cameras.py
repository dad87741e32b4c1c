"""Cameras: the real pyrealsense2 SDK on a software device and on a recording; OpenCV on a video file."""

from __future__ import annotations

import gc
import glob
import os
import time

import numpy as np
import pyrealsense2 as rs  # the `realsense` extra: it must import, never skip
import pytest
from waiting import wait_until  # noqa: E402  (tests/hardware helper)

from hardware.cameras import CameraError, make_camera
from hardware.emulators.realsense import EmulatedRealSense  # noqa: E402
from robot.config import ConfigError


def test_realsense_colour_and_aligned_depth_from_a_software_device():
    with EmulatedRealSense(serial="817612070001", depth=True) as emu:
        cam = make_camera("realsense", "wrist", width=64, height=48, fps=30, depth=True, device=emu.device)
        with cam:
            assert wait_until(lambda: cam.frames >= 5)
            image, t = cam.read_latest()
            f = cam.latest()
            assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and cam.shape == (48, 64, 3)
            assert f.depth is not None and f.depth.shape == (48, 64) and f.depth.dtype == np.uint16
            # Hardware timestamp = frame number * 1000 / fps, and the pixel carries the frame number.
            n = round(f.sensor_time_ms * 30 / 1000)
            assert image[0, 0, 0] == n % 256 and f.depth[24, 32] == 1000 + n
            assert 0 <= cam.frame_age_s() < 1.0 and cam.faults() == []


def test_realsense_that_stops_delivering_is_reported_not_waited_for():
    with EmulatedRealSense(depth=False) as emu:
        cam = make_camera("realsense", "front", width=64, height=48, fps=30, device=emu.device,
                          stale_after_s=0.2, frame_timeout_ms=50)
        with cam:
            assert wait_until(lambda: cam.frames >= 2)
            emu.pause()
            assert wait_until(lambda: cam.faults() != [], timeout=3.0)
            _img, t = cam.read_latest()  # still answers, with the old frame and its old stamp
            assert t == cam.latest().host_time and time.monotonic() - t > 0.2
            assert "camera 'front'" in cam.faults()[0] and "no frame for" in cam.faults()[0]
            assert cam.late > 0
            emu.pause(False)
            assert wait_until(lambda: cam.faults() == [], timeout=3.0)


def test_realsense_recording_plays_back_through_the_sdk(tmp_path):
    path = str(tmp_path / "session.db3")  # librealsense 2.59 records rosbag2 (.db3)
    emu = EmulatedRealSense(serial="817612070002", depth=True)
    recorder = rs.recorder(path, emu.device)
    syncer = rs.syncer()
    sensors = recorder.query_sensors()
    for sensor in sensors:
        sensor.open(sensor.get_stream_profiles()[0])
        sensor.start(syncer)
    for _ in range(12):
        emu.push()
        syncer.try_wait_for_frames(200)
    for sensor in sensors:
        sensor.stop()
        sensor.close()
    del recorder, sensors, sensor, syncer  # the last reference to the recorder closes (and unlocks) the file
    gc.collect()
    assert os.path.getsize(path) > 0
    cam = make_camera("realsense", "front", playback=path, width=64, height=48, fps=30, depth=True,
                      playback_realtime=False)
    with cam:
        assert wait_until(lambda: cam.frames >= 5)
        f = cam.latest()
        assert f.image.shape == (48, 64, 3) and f.depth is not None
        assert f.depth[0, 0] == 1000 + round(f.sensor_time_ms * 30 / 1000)
        assert "817612070002" in rs.context().load_device(path).get_info(rs.camera_info.serial_number)


def test_realsense_serial_not_connected_names_it():
    cam = make_camera("realsense", "front", serial="999999999999")
    with pytest.raises(CameraError, match="serial 999999999999 is not connected"):
        cam.connect()


def test_realsense_mode_not_offered_lists_the_modes():
    with EmulatedRealSense(depth=False) as emu:
        cam = make_camera("realsense", "front", width=1280, height=720, fps=30, device=emu.device)
        with pytest.raises(CameraError, match="64x48@30"):
            cam.connect()


def write_video(path, n, w=64, h=48, fps=30.0):
    import cv2

    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 2] = 200  # red in BGR
        frame[:, : (i % w) + 1, 1] = 100
        out.write(frame)
    out.release()


def test_opencv_file_paced_rgb_and_end_of_stream_is_a_fault(tmp_path):
    video = tmp_path / "clip.avi"
    write_video(video, 10)
    cam = make_camera("opencv", "side", source=str(video), width=64, height=48, fps=30.0, stale_after_s=0.2)
    with cam:
        image, _t = cam.read_latest()
        assert image.shape == (48, 64, 3) and image[0, -1, 0] > 150 and image[0, -1, 2] < 50  # BGR -> RGB
        assert wait_until(lambda: cam.frames >= 10, timeout=5.0)
        assert cam.latest().sensor_time_ms == pytest.approx(9 * 1000 / 30, abs=40)  # file clock
        assert wait_until(lambda: cam.faults() != [], timeout=3.0)  # the file ended: stopped delivering
        assert "camera 'side' (opencv" in cam.faults()[0]


def test_opencv_bad_source_and_wrong_size_are_clear(tmp_path):
    with pytest.raises(CameraError, match="find-cameras"):
        make_camera("opencv", "x", source=str(tmp_path / "missing.avi")).connect()
    video = tmp_path / "clip.avi"
    write_video(video, 3)
    with pytest.raises(CameraError, match="delivers 64x48"):
        make_camera("opencv", "x", source=str(video), width=640, height=480).connect()
    with pytest.raises(ConfigError, match="widht"):
        make_camera("opencv", "x", widht=3)
    with pytest.raises(ValueError, match="kinect"):
        make_camera("kinect")


@pytest.mark.skipif(not glob.glob("/dev/video*"), reason="no V4L2 device (v4l2loopback not loaded on this machine)")
def test_opencv_v4l2_device_delivers_frames():
    from hardware.cameras.opencv import list_opencv_cameras

    found = list_opencv_cameras()
    if not found:
        pytest.skip("V4L2 nodes exist but none opens (no loopback producer)")
    c = found[0]
    with make_camera("opencv", "dev", source=c["source"], width=c["width"], height=c["height"]) as cam:
        assert cam.read_latest()[0].shape == (c["height"], c["width"], 3)
