"""Finding a model: the embedded default in ``assets/``, a local folder, or a Hub repo id (when online)."""
from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL_DIR = ASSETS / "model"


class ModelNotFoundError(FileNotFoundError):
    """The requested model is not on disk and could not be fetched; the message says which and why."""


def _check_layout(folder: Path) -> Path:
    missing = [p for p in ("unet/config.json", "scheduler/scheduler_config.json") if not (folder / p).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{folder} is not a diffusers DDIM/DDPM model folder: missing {', '.join(missing)} "
            "(expected unet/ and scheduler/ subfolders, as written by save_pretrained)")
    return folder


def resolve_model_dir(name_or_path: str | Path | None = None) -> Path:
    """A local folder holding ``unet/`` and ``scheduler/``: downloads a Hub id through huggingface_hub if needed.

    ``None`` means ``$HEADROT_MODEL`` or else the embedded default, so the app runs with no network.
    """
    name = name_or_path if name_or_path is not None else os.environ.get("HEADROT_MODEL") or DEFAULT_MODEL_DIR
    path = Path(name).expanduser()
    if path.exists():
        return _check_layout(path)
    text = str(name)
    looks_like_repo_id = text.count("/") == 1 and not text.startswith((".", "/", "~")) and " " not in text
    if path == DEFAULT_MODEL_DIR or not looks_like_repo_id:
        raise ModelNotFoundError(f"model folder {path} does not exist"
                                 + (" (the embedded default is missing: is assets/ complete?)"
                                    if path == DEFAULT_MODEL_DIR else ""))
    return _check_layout(_download(text))


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        files = ["model_index.json", "training.json", "unet/*", "scheduler/*", "trajectories/*"]
        return Path(snapshot_download(repo_id, allow_patterns=files))
    except RepositoryNotFoundError as e:
        raise ModelNotFoundError(f"Hub repository {repo_id!r} does not exist or is private") from e
    except LocalEntryNotFoundError as e:
        raise ModelNotFoundError(
            f"cannot download {repo_id!r} from the Hugging Face Hub: the network is unreachable or offline mode "
            "is on, and it is not in the local cache. Use the embedded default (no argument) or a local folder."
        ) from e
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"cannot download {repo_id!r} from the Hugging Face Hub: {e}") from e
