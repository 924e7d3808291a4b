"""Front-end assets that have no Python package: fetched from the npm registry at install time, pinned.

``make install`` runs ``python -m portal.assets``: each package in ``ASSETS``
is downloaded as the registry's tarball, checked against its pinned
``integrity`` (the registry's Subresource Integrity string), and the listed
files are extracted under ``ASSETS_DIR`` (inside ``.venv``, never in the
repository), from where Django serves them as static files under
``vendor/``. Nothing is fetched at run time. ``PORTAL_NPM_REGISTRY`` points
at a mirror (default: the public registry).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / ".venv" / "portal-assets"
REGISTRY = os.environ.get("PORTAL_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    integrity: str  # "sha512-<base64>", as `npm view <package>@<version> dist.integrity` prints it
    files: dict[str, str]  # path in the package -> path under ASSETS_DIR

    @property
    def tarball(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"


ASSETS = [
    Asset(
        package="chart.js",
        version="4.5.1",
        integrity="sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw==",
        files={"dist/chart.umd.min.js": "chartjs/chart.umd.min.js", "LICENSE.md": "chartjs/LICENSE.md"},
    ),
]


def _stamp(asset: Asset, into: Path) -> Path:
    return into / f".{asset.package.replace('/', '_')}-{asset.version}"


def verify(data: bytes, integrity: str) -> None:
    """Raise ValueError unless ``data`` matches the Subresource Integrity string ``integrity``."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha256", "sha384", "sha512"}:
        raise ValueError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ValueError(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def extract(asset: Asset, data: bytes, into: Path) -> None:
    """Write the asset's listed files from the tarball ``data`` (npm packs them under ``package/``)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for inside, target in asset.files.items():
            try:
                member = archive.extractfile(f"package/{inside}")
            except KeyError:
                member = None
            if member is None:
                raise ValueError(f"{asset.package}@{asset.version} has no file {inside}")
            path = into / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(member.read())


def install(assets: list[Asset] = ASSETS, into: Path = ASSETS_DIR) -> list[str]:
    """Fetch, check and extract every asset not installed yet; the names of those installed now."""
    installed = []
    for asset in assets:
        if _stamp(asset, into).exists() and all((into / target).exists() for target in asset.files.values()):
            continue
        with urllib.request.urlopen(asset.tarball, timeout=60) as response:  # noqa: S310 (a pinned https URL)
            data = response.read()
        verify(data, asset.integrity)
        extract(asset, data, into)
        _stamp(asset, into).touch()
        installed.append(f"{asset.package}@{asset.version}")
    return installed


if __name__ == "__main__":
    try:
        for name in install():
            print(f"installed {name}")
    except (OSError, ValueError) as error:
        sys.exit(f"portal.assets: {error}")
