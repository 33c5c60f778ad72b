#!/usr/bin/env bash
# Rebuilds every shipped asset and measured document from a training run, in pipeline order.
# Each step shows progress and reuses its cache (decoded images, latents) when re-run.
#   RUN=~/.cache/headrot/runs/ddim64 STEPS=20 FP=1 FIT_FACES=2000 EVAL_FACES=100 bash scripts/build_assets.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUN="${RUN:-$HOME/.cache/headrot/runs/ddim64}"
STEPS="${STEPS:-20}"; FP="${FP:-1}"; FIT_FACES="${FIT_FACES:-2000}"; EVAL_FACES="${EVAL_FACES:-100}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"  # no spinning threads on a shared 2-core CPU

rm -rf assets/model && cp -r "$RUN/model" assets/model                       # EMA weights, fp16
"$PY" -m headrot_core fit-gender --out assets/gender.json                    # dlib descriptors -> Male
"$PY" -m headrot_core fit --steps "$STEPS" --fixed-point-iters "$FP" --max-faces "$FIT_FACES" \
    --out assets/trajectories                                                 # latents -> yaw lines
"$PY" scripts/make_examples.py --steps "$STEPS"                               # app examples: model samples
"$PY" -m headrot_core model-card --run "$RUN" --notes docs/model_notes.md --out docs/MODEL.md
"$PY" -m headrot_core evaluate --faces "$EVAL_FACES" --fit-faces "$FIT_FACES" --steps "$STEPS" \
    --fixed-point-iters "$FP" --out docs/EVALUATION.md
