#!/usr/bin/env bash
# The GPU half of the asset build, in stages that each fit one run of at most 10 minutes and resume:
#   STAGE=model     MINUTES=8.5 bash scripts/gpu_build.sh   # DDIM face model (resumes runs/ddim64/checkpoint.pt)
#   STAGE=embed-fit MINUTES=3.5 bash scripts/gpu_build.sh   # embedding network, then embed every crop and fit
# It reads what scripts/gpu_prepare.sh wrote into .gpu/ (training pack, validation pack, labels, annotations) and
# diffusers wheels in .whl/ when the machine lacks diffusers. Each stage leaves runs/ in place for the next one and
# writes its exports as one tar, cut into 15 MiB parts, to $OUT (default out/gpu): `cat result.tar.part-* | tar x`.
# Then, here (it needs dlib), for runs/trajectories and runs/trajectories-one-line (what build_assets.sh runs):
#   python -m headrot_core calibrate --trajectories DIR --no-match-gender
# and, for issue 22's realism, whether the new model's content helps the far frames (about 11 minutes on 2 cores):
#   python scripts/sdedit_probe.py edit --model runs/ddim64/model --out runs/sdedit.npz
#   python scripts/sdedit_probe.py score runs/sdedit.npz
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="${STAGE:?STAGE=model or embed-fit}"
MINUTES="${MINUTES:-8}"
STEPS="${STEPS:-12}"          # DDIM steps the embedder and the trajectories are made for (the engine's)
FP="${FP:-2}"                 # fixed-point iterations of the inversions behind the trajectories
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 HEADROT_DATA="$PWD/.gpu/data" HEADROT_CACHE="${HEADROT_CACHE:-/tmp/headrot-cache}"
PY=python3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start=$(date +%s)
case "$STAGE" in
  model)
    $PY -m headrot_core train --data .gpu/train64.tar.gz --out runs/ddim64 --batch-size 256 --lr 3e-4 \
        --lr-schedule constant --warmup-steps 500 --max-steps 10000000 --minutes "$MINUTES" \
        --checkpoint-every 2000 --sample-every 4000 --device cuda
    files=(runs/ddim64/model runs/ddim64/log.jsonl runs/ddim64/samples)
    ;;
  embed-fit)
    $PY -m headrot_core train-embedder --model runs/ddim64/model --out runs/embedder --steps "$STEPS" \
        --batch-size 256 --lr 5e-4 --minutes "$MINUTES" --real-data .gpu/train64.tar.gz \
        --val-data .gpu/val64.tar.gz --val-n 256 --val-every 1000 --checkpoint-every 2000 --device cuda
    $PY -m headrot_core fit --model runs/ddim64/model --device cuda --data .gpu/train64.tar.gz \
        --yaw-source labels --labels .gpu/labels.csv --steps "$STEPS" --fixed-point-iters "$FP" --batch 1024 \
        --out runs/trajectories --one-line-out runs/trajectories-one-line
    files=(runs/ddim64/model runs/embedder/embedder runs/embedder/log.jsonl runs/trajectories
           runs/trajectories-one-line)
    ;;
  *) echo "unknown STAGE $STAGE" >&2; exit 2 ;;
esac
echo "stage $STAGE took $(( $(date +%s) - start )) s"
tar cf - "${files[@]}" | split -b 15M - "$OUT/result.tar.part-"
ls -la "$OUT"
