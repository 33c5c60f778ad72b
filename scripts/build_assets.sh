#!/usr/bin/env bash
# Rebuilds every shipped asset and measured document from a training run, in pipeline order.
# Each step shows progress and reuses its cache (decoded images, latents) when re-run.
#   RUN=~/.cache/headrot/runs/ddim64 bash scripts/build_assets.sh
# STEPS/FP: the inversion behind the fitted lines and what the engine runs with (calibrated for it); LATENT_T: the
# DDIM timestep the lines live at (x_t, half-way down the 12-step schedule; docs/EVALUATION.md); FIT_FACES: the
# yaw-balanced cap on the annotated training faces the lines are fitted on (0: all 4,944). The engine's settings
# default to headrot_core.settings.EngineSettings (the CLI's defaults too, e.g. warm start, no shared channels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUN="${RUN:-$HOME/.cache/headrot/runs/ddim64}"
read -r D_STEPS D_FP D_RESIDUAL_STEPS D_SIGMA D_LATENT_T < <("$PY" -c 'from headrot_core.settings import EngineSettings
s = EngineSettings(); print(s.steps, s.fixed_point_iters, s.residual_steps, s.smoothing_sigma, s.latent_t)')
FIT_FACES="${FIT_FACES:-0}"; LATENT_T="${LATENT_T:-$D_LATENT_T}"
STEPS="${STEPS:-$D_STEPS}"; FP="${FP:-$D_FP}"; RESIDUAL_STEPS="${RESIDUAL_STEPS:-$D_RESIDUAL_STEPS}"
SIGMA="${SIGMA:-$D_SIGMA}"; CAL_FACES="${CAL_FACES:-96}"; EVAL_FACES="${EVAL_FACES:-100}"
NOMINAL="${NOMINAL:-10,20,30,45,60,75,90,120,150,180,210}"
ONE_LINE="${ONE_LINE:-runs/trajectories-one-line}"  # the one-line ablation (not shipped)

rm -rf assets/model && cp -r "$RUN/model" assets/model                       # EMA weights, fp16
"$PY" -m headrot_core fit-gender --out assets/gender.json                    # dlib descriptors -> Male
"$PY" -m headrot_core fit --yaw-source annotations --max-faces "$FIT_FACES" --steps "$STEPS" \
    --fixed-point-iters "$FP" --latent-t "$LATENT_T" --out assets/trajectories \
    --one-line-out "$ONE_LINE"                                                # latents -> yaw lines (the paper)
for T in assets/trajectories "$ONE_LINE"; do                                 # smoothing + measured response
    "$PY" -m headrot_core calibrate --trajectories "$T" --faces "$CAL_FACES" --sigma "$SIGMA" \
        --steps "$STEPS" --fixed-point-iters "$FP" --residual-steps "$RESIDUAL_STEPS" --nominal "$NOMINAL"
done
"$PY" -m headrot_core.build.shading                                          # the renderer's mean faces by yaw
"$PY" scripts/make_examples.py --steps "$STEPS"                               # app examples: model samples
"$PY" -m headrot_core model-card --run "$RUN" --notes docs/model_notes.md --out docs/MODEL.md
"$PY" -m headrot_core evaluate --faces "$EVAL_FACES" --one-line "$ONE_LINE" --out docs/EVALUATION.md
