"""The engine settings: one home of every default, read strictly from the trajectories' json."""
import os
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from headrot_core.settings import WALK_FIELDS, EngineSettings
from headrot_core.walk.lines import TrajectorySet

ROOT = Path(__file__).resolve().parents[1]
NAMES = [f.name for f in fields(EngineSettings)]


def test_round_trip_and_the_shipped_json_is_the_default():
    s = EngineSettings(steps=7, latent_t=None, decode="clipped", joint_gain=1.5)
    assert EngineSettings.from_dict(s.to_dict()) == s
    shipped = TrajectorySet.load()
    assert shipped.settings == EngineSettings(), "the defaults are the shipped engine's"
    assert not set(NAMES) & set(shipped.meta["calibration"]), "the calibration keeps only its curves and provenance"


@pytest.mark.parametrize("name", NAMES)
def test_each_validation_error_names_the_key(name):
    d = EngineSettings().to_dict()
    with pytest.raises(ValueError, match="unknown engine setting.*colour_boost"):
        EngineSettings.from_dict({**d, "colour_boost": 1})
    with pytest.raises(ValueError, match=f"missing engine setting.*{name}"):
        EngineSettings.from_dict({k: v for k, v in d.items() if k != name})
    with pytest.raises(ValueError, match=f"two values.*{name} \\(in meta\\)"):
        EngineSettings.from_meta({"engine": d, name: d[name]})
    with pytest.raises(ValueError, match=f"two values.*{name} \\(in meta\\['calibration'\\]\\)"):
        EngineSettings.from_meta({"engine": d, "calibration": {"nominal": [10.0], name: d[name]}})
    with pytest.raises(ValueError, match="no 'engine'"):
        EngineSettings.from_meta({name: d[name]})


def test_cli_defaults_are_the_settings():
    from headrot_core.cli import build_parser

    s, p = EngineSettings(), build_parser()
    fit = vars(p.parse_args(["fit"]))
    assert (fit["steps"], fit["fixed_point_iters"], fit["warm_start"], fit["latent_t"]) == (
        s.steps, s.fixed_point_iters, s.warm_start, s.latent_t)
    assert p.parse_args(["fit", "--latent-t", "none"]).latent_t is None
    cal = vars(p.parse_args(["calibrate"]))
    for name in ("steps", "fixed_point_iters", "warm_start", "decode", "residual_steps", "shared_channels"):
        assert cal[name] == getattr(s, name), name
    assert cal["sigma"] == s.smoothing_sigma
    assert cal["match_gender"] is None and cal["joint_gain"] is None, "the set's own"
    for command in (["rotate", "x.png", "--out", "o"], ["evaluate"]):  # the trajectories' settings
        args = vars(p.parse_args(command))
        assert all(args.get(k) is None for k in ("steps", "fixed_point_iters", "decode")), command


def test_app_defaults_are_the_trajectories_settings(monkeypatch):
    import app

    monkeypatch.delenv("HEADROT_STEPS", raising=False)
    assert app.Engine().steps is None, "no default of its own: HeadRotator.from_pretrained takes the set's"
    monkeypatch.setenv("HEADROT_STEPS", "6")
    assert app.Engine().steps == 6


def test_build_script_defaults_are_the_settings(tmp_path):
    """The script's defaults block, run as it is, sets the settings' values."""
    text = (ROOT / "scripts" / "build_assets.sh").read_text()
    (tmp_path / "scripts").mkdir()
    head = tmp_path / "scripts" / "defaults.sh"
    head.write_text(text[:text.index("rm -rf ")] + 'echo "$STEPS $FP $RESIDUAL_STEPS $SIGMA $LATENT_T"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("STEPS", "FP", "RESIDUAL_STEPS", "SIGMA", "LATENT_T")}
    out = subprocess.run(["bash", str(head)], env={**env, "PY": sys.executable, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True).stdout.split()
    s = EngineSettings()
    assert out == [str(v) for v in (s.steps, s.fixed_point_iters, s.residual_steps, s.smoothing_sigma, s.latent_t)]


def test_rotator_takes_the_trajectories_settings_unless_told(tiny_rotator_dir):
    """A direct construction walks the lines at their own timestep with their setting; ``settings`` override the
    engine's part, never what the walk applies itself."""
    from headrot_core.diffusion import FaceDiffusion
    from headrot_core.rotation import HeadRotator

    model = FaceDiffusion.from_pretrained(tiny_rotator_dir, "cpu")
    ts = TrajectorySet.load(tiny_rotator_dir / "trajectories").with_settings(latent_t=500, fixed_point_iters=2)
    rot = HeadRotator(model, ts)
    assert rot.settings == ts.settings and rot.latent.settings.latent_t == 500
    fast = HeadRotator(model, ts, settings=replace(ts.settings, steps=4))
    assert fast.settings == ts.with_settings(steps=4, residual_steps=4).settings
    elsewhere = replace(EngineSettings(), latent_t=None, joint_gain=2.0, smoothing_sigma=1.0, steps=4, residual_steps=4)
    assert HeadRotator(model, ts, settings=elsewhere).settings == replace(
        elsewhere, **{n: getattr(ts.settings, n) for n in WALK_FIELDS}), "the lines are walked as they were fitted"
