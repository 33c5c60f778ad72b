"""Measuring the engine and its parts: held-out pose / identity / reconstruction and ablations (``evaluation``),
what a viewer sees (``realism``), the face analysis (``face_eval``) and the model card (``model_card``).
Nothing in the runtime core imports this package."""
