#!/usr/bin/env bash
# Rebuilds every shipped asset and measured document from a training run, in pipeline order.
# Each step shows progress and reuses its cache (decoded images, latents) when re-run.
#   RUN=~/.cache/headrot/runs/ddim64 bash scripts/build_assets.sh
# FIT_STEPS/FIT_FP: the inversion behind the fitted lines; STEPS/FP: what the engine runs with (calibrated for it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUN="${RUN:-$HOME/.cache/headrot/runs/ddim64}"
FIT_STEPS="${FIT_STEPS:-20}"; FIT_FP="${FIT_FP:-1}"; FIT_FACES="${FIT_FACES:-2000}"
STEPS="${STEPS:-12}"; FP="${FP:-2}"; RESIDUAL_STEPS="${RESIDUAL_STEPS:-4}"
SIGMA="${SIGMA:-2}"; CAL_FACES="${CAL_FACES:-96}"; EVAL_FACES="${EVAL_FACES:-100}"
ONE_LINE="${ONE_LINE:-runs/trajectories-one-line}"  # the one-line ablation (not shipped)

rm -rf assets/model && cp -r "$RUN/model" assets/model                       # EMA weights, fp16
"$PY" -m headrot_core fit-gender --out assets/gender.json                    # dlib descriptors -> Male
"$PY" -m headrot_core fit --yaw-source annotations --max-faces "$FIT_FACES" --steps "$FIT_STEPS" \
    --fixed-point-iters "$FIT_FP" --out assets/trajectories \
    --one-line-out "$ONE_LINE"                                                # latents -> yaw lines (the paper)
for T in assets/trajectories "$ONE_LINE"; do                                 # smoothing + measured response
    "$PY" -m headrot_core calibrate --trajectories "$T" --faces "$CAL_FACES" --sigma "$SIGMA" --steps "$STEPS" \
        --fixed-point-iters "$FP" --warm-start --decode residual --residual-steps "$RESIDUAL_STEPS" --no-match-gender
done
"$PY" scripts/make_examples.py --steps "$STEPS"                               # app examples: model samples
"$PY" -m headrot_core model-card --run "$RUN" --notes docs/model_notes.md --out docs/MODEL.md
"$PY" -m headrot_core evaluate --faces "$EVAL_FACES" --one-line "$ONE_LINE" --out docs/EVALUATION.md
