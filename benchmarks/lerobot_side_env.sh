#!/usr/bin/env bash
# Create the side environment where LeRobot's own dataset code (v3.0) runs on the CPU.
#
#   bash benchmarks/lerobot_side_env.sh [ENV_DIR]     (default: .lerobot-env, git-ignored)
#
# torch 2.9.1 + torchvision 0.24.1 (PyPI builds; they run on the CPU) and lerobot 0.4.4:
# about 8 GB and a few minutes. Never installed into the project's main .venv, whose torch
# is the CPU 2.13 build and whose lerobot (0.3.2, drivers only) reads the older v2.1 format.
# benchmarks/lerobot_side_check.py and tests/data/test_lerobot_side_env.py use it when present.
set -euo pipefail
ENV_DIR="${1:-.lerobot-env}"
PYTHON="${PYTHON:-python3.11}"
if [ -x "$ENV_DIR/bin/python" ] && "$ENV_DIR/bin/python" -c \
    "from lerobot.datasets.lerobot_dataset import LeRobotDataset" 2>/dev/null; then
  echo "$ENV_DIR: LeRobotDataset already imports"; exit 0
fi
"$PYTHON" -m venv "$ENV_DIR"
"$ENV_DIR/bin/pip" install -q --upgrade pip
"$ENV_DIR/bin/pip" install -q "torch==2.9.1" "torchvision==0.24.1" "lerobot==0.4.4"
"$ENV_DIR/bin/python" -c "from lerobot.datasets.lerobot_dataset import LeRobotDataset, CODEBASE_VERSION; \
print('LeRobotDataset imports; codebase', CODEBASE_VERSION)"
