#!/usr/bin/env bash
# Writes what scripts/gpu_build.sh needs on a GPU machine into .gpu/ (git-ignored; under the 64 MiB a device call
# carries): the 64 px training pack (training identities only), 256 held-out crops for validation, the yaw/light
# labels of every crop, and annotations.csv (identities, Male). Also diffusers' wheel in .whl/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
DATA="${HEADROT_DATA:-../shared/data}"
mkdir -p .gpu/data
# WebP quality 62 (27.4 MiB): with the tracked tree (~28 MiB) and the wheels (6 MiB) a call stays under 64 MiB;
# the default 80 (37.8 MiB) does not fit beside them
[ -f .gpu/train64.tar.gz ] || "$PY" -m headrot_core pack --out .gpu/train64.tar.gz --quality 62
[ -f .gpu/val64.tar.gz ] || "$PY" - <<'EOF'
from headrot_core.build.data import default_data_root, load_annotations, load_images, training_split, write_pack
images = load_images(default_data_root() / "celeba128", 64)
_, held = training_split(images, load_annotations())
import numpy as np
write_pack(held.select(np.arange(len(held.ids)) < 256), ".gpu/val64.tar.gz", quality=95)
EOF
labels=$("$PY" -c "from headrot_core.build.labels import label_dataset; print(label_dataset())")
cp "$labels" .gpu/labels.csv
cp "$DATA/annotations.csv" .gpu/data/annotations.csv
[ -n "$(ls .whl/diffusers-*.whl 2>/dev/null)" ] || "$PY" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata
du -sh .gpu .whl
