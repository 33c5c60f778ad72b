import re

import numpy as np

from headrot_core.measure import model_card


def test_card_reports_face_rate_per_step_count_and_keeps_its_own_grid(tiny_model, tiny_model_dir, tmp_path,
                                                                      monkeypatch):
    """A card for a model that is not the embedded default must say so and must not overwrite the shipped grid."""
    crops = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    monkeypatch.setattr(model_card, "heldout_crops", lambda n, size: crops)  # the tiny model is 32 px; no data
    out = model_card.write_model_card(tiny_model, tiny_model_dir, None, tmp_path / "MODEL_TINY.md", n=4,
                                      steps_list=(12,))
    text = out.read_text()
    assert text.startswith("# A candidate model, not the embedded default")
    rates = re.findall(r"^\| (\d+) \| (\d+\.\d)% \|$", text, re.M)
    assert [steps for steps, _ in rates] == ["12", "20", "50"] and all(0 <= float(r) <= 100 for _, r in rates)
    assert "The first 64 samples at 50 steps" in text and "![samples](model_tiny_samples.png)" in text
    assert (tmp_path / "model_tiny_samples.png").is_file() and not (tmp_path / "model_samples.png").exists()
