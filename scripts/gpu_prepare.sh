#!/usr/bin/env bash
# Writes what scripts/gpu_build.sh needs on a GPU machine into .gpu/ (git-ignored; under the 64 MiB a device call
# carries): the 64 px training pack (training identities only), 256 held-out crops for validation, the yaw/light
# labels of every crop, and annotations.csv (identities, Male). Also diffusers' wheel in .whl/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
DATA="${HEADROT_DATA:-../shared/data}"
mkdir -p .gpu/data
[ -f .gpu/val64.tar.gz ] || "$PY" - <<'EOF'
from headrot_core.build.data import default_data_root, load_annotations, load_images, training_split, write_pack
images = load_images(default_data_root() / "celeba128", 64)
_, held = training_split(images, load_annotations())
import numpy as np
write_pack(held.select(np.arange(len(held.ids)) < 256), ".gpu/val64.tar.gz", quality=95)
EOF
labels=$("$PY" -c "from headrot_core.build.labels import label_dataset; print(label_dataset())")
cp "$labels" .gpu/labels.csv
# the columns the GPU stages read (identity and gender; the pose columns the parser expects): a third of the file
"$PY" - "$DATA/annotations.csv" .gpu/data/annotations.csv <<'EOF2'
import csv, sys
keep = ["image_id", "identity", "celebahq_index", "yaw", "pitch", "roll", "Male"]
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w", newline="") as g:
    w = csv.DictWriter(g, keep, extrasaction="ignore")
    w.writeheader()
    w.writerows(csv.DictReader(f))
EOF2
[ -n "$(ls .whl/diffusers-*.whl 2>/dev/null)" ] || "$PY" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata
# The training pack last, in what is left of the 64 MiB a device call carries (tracked and untracked files, .gpu,
# .whl): WebP quality 62, cut short if the rest of the tree has grown (all 39,620 training crops took 27.4 MiB)
travel() {  # MiB that a device call carrying .gpu and .whl sends
  { git ls-files -z --cached --others --exclude-standard; find .gpu .whl -type f -print0; } | "$PY" -c "
import os, sys
print(sum(os.path.getsize(p) for p in set(sys.stdin.read().split(chr(0))) if os.path.isfile(p)) / 2**20)"
}
if [ ! -f .gpu/train64.tar.gz ]; then
  room=$("$PY" -c "print(max(0.0, 64 - 1 - $(travel)))")  # 1 MiB to spare
  "$PY" -m headrot_core pack --out .gpu/train64.tar.gz --quality 62 --max-mib "$room"
fi
total=$(travel)
echo "a device call carrying .gpu and .whl sends ${total} MiB (at most 64)"
"$PY" -c "import sys; sys.exit(float('$total') > 64)" || {
  echo "over 64 MiB: the call would be refused; remove .gpu/train64.tar.gz to write it into what is left" >&2; exit 1; }
