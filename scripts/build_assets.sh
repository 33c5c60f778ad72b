#!/usr/bin/env bash
# Rebuilds every shipped asset and measured document from a training run, in pipeline order.
# Each step shows progress and reuses its cache (decoded images, latents) when re-run.
#   RUN=~/.cache/headrot/runs/ddim64 bash scripts/build_assets.sh
# STEPS/FP: the inversion behind the fitted lines and what the engine runs with (calibrated for it); LATENT_T: the
# DDIM timestep the lines live at (x_t, half-way down the 12-step schedule; docs/EVALUATION.md); FIT_FACES: the
# yaw-balanced cap on the annotated training faces the lines are fitted on (0: all 4,944).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUN="${RUN:-$HOME/.cache/headrot/runs/ddim64}"
FIT_FACES="${FIT_FACES:-0}"; LATENT_T="${LATENT_T:-499}"
STEPS="${STEPS:-12}"; FP="${FP:-2}"; RESIDUAL_STEPS="${RESIDUAL_STEPS:-12}"
SIGMA="${SIGMA:-2}"; CAL_FACES="${CAL_FACES:-96}"; EVAL_FACES="${EVAL_FACES:-100}"
NOMINAL="${NOMINAL:-10,20,30,45,60,75,90,120,150,180,210}"
ONE_LINE="${ONE_LINE:-runs/trajectories-one-line}"  # the one-line ablation (not shipped)

rm -rf assets/model && cp -r "$RUN/model" assets/model                       # EMA weights, fp16
"$PY" -m headrot_core fit-gender --out assets/gender.json                    # dlib descriptors -> Male
"$PY" -m headrot_core fit --yaw-source annotations --max-faces "$FIT_FACES" --steps "$STEPS" \
    --fixed-point-iters "$FP" --warm-start --latent-t "$LATENT_T" --out assets/trajectories \
    --one-line-out "$ONE_LINE"                                                # latents -> yaw lines (the paper)
for T in assets/trajectories "$ONE_LINE"; do                                 # smoothing + measured response
    "$PY" -m headrot_core calibrate --trajectories "$T" --faces "$CAL_FACES" --sigma "$SIGMA" --no-shared-channels \
        --steps "$STEPS" --fixed-point-iters "$FP" --warm-start --decode residual --residual-steps "$RESIDUAL_STEPS" \
        --no-match-gender --nominal "$NOMINAL"
done
"$PY" scripts/make_examples.py --steps "$STEPS"                               # app examples: model samples
"$PY" -m headrot_core model-card --run "$RUN" --notes docs/model_notes.md --out docs/MODEL.md
"$PY" -m headrot_core evaluate --faces "$EVAL_FACES" --one-line "$ONE_LINE" --out docs/EVALUATION.md
