"""Front-end assets that have no Python package: fetched from the npm registry at install time, pinned.

``make install`` runs ``python -m portal.assets``: each package in ``ASSETS``
is downloaded as the registry's tarball, checked against its pinned
``integrity`` (the registry's Subresource Integrity string), and the listed
files are extracted under ``ASSETS_DIR`` (inside ``.venv``, never in the
repository), from where Django serves them as static files under
``vendor/``. Nothing is fetched at run time. ``PORTAL_NPM_REGISTRY`` points
at a mirror (default: the public registry).

With DEBUG off, ``collectstatic`` stores files under hashed names and
rewrites every reference a stylesheet or script makes to another file (its
``sourceMappingURL``, ``url(...)`` and ``@import``); a reference to a file
that is not there fails the whole build. So what a listed file refers to is
extracted beside it, from the same verified tarball.

``TEST_ASSETS`` are what only the test suite uses (axe-core, which the
browser tests inject into pages to check their accessibility): fetched and
checked the same way by ``python -m portal.assets --with-test-assets`` (what
``make install`` runs; the image's build leaves them out), into
``TEST_ASSETS_DIR``, which no static files finder looks in, so they are never
served.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import os
import posixpath
import re
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage

ASSETS_DIR = Path(__file__).resolve().parent.parent / ".venv" / "portal-assets"
TEST_ASSETS_DIR = Path(__file__).resolve().parent.parent / ".venv" / "portal-test-assets"
REGISTRY = os.environ.get("PORTAL_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    integrity: str  # "sha512-<base64>", as `npm view <package>@<version> dist.integrity` prints it
    files: dict[str, str]  # path in the package -> path under ASSETS_DIR; what they refer to comes along

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

TEST_ASSETS = [
    Asset(
        package="axe-core",
        version="4.14.1",
        integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        files={"axe.min.js": "axe-core/axe.min.js", "LICENSE": "axe-core/LICENSE"},
    ),
]


def _stamp(asset: Asset, into: Path) -> Path:
    """The file that says ``asset`` is installed; it lists the files extracted for it, one a line."""
    return into / f".{asset.package.replace('/', '_')}-{asset.version}"


def _installed(asset: Asset, into: Path) -> bool:
    stamp = _stamp(asset, into)
    if not stamp.exists():
        return False
    extracted = stamp.read_text().split()
    return bool(extracted) and all((into / target).exists() for target in extracted)


# The references collectstatic's manifest storage follows, as Django defines them: (file pattern, regexes).
_REFERENCE_PATTERNS = [
    (files, [re.compile(pattern[0] if isinstance(pattern, tuple) else pattern, re.IGNORECASE) for pattern in patterns])
    for files, patterns in ManifestStaticFilesStorage.patterns
]


def references(name: str, content: str) -> list[str]:
    """The local files the static file ``name`` refers to, as paths relative to its folder.

    What Django's manifest storage would resolve when it collects ``name``:
    a URL with a scheme (``data:``, ``https:``), a protocol-relative or an
    absolute one is left alone, and the query and fragment are not part of
    the file's name.
    """
    found: list[str] = []
    for files, patterns in _REFERENCE_PATTERNS:
        if not fnmatch.fnmatchcase(name, files):
            continue
        for pattern in patterns:
            for match in pattern.finditer(content):
                url = match["url"].strip()
                if re.match(r"^[a-z]+:", url) or url.startswith("/"):
                    continue
                path = unquote(urlsplit(url).path)
                if path and path not in found:
                    found.append(path)
    return found


def beside(name: str, reference: str) -> str:
    """The path of ``reference``, relative to ``name``'s folder, from the root ``name`` is relative to."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(name), reference))
    if path == ".." or path.startswith(("../", "/")):
        raise ValueError(f"{name} refers to {reference}, outside its package")
    return path


def verify(data: bytes, integrity: str) -> None:
    """Raise ValueError unless ``data`` matches the Subresource Integrity string ``integrity``."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha256", "sha384", "sha512"}:
        raise ValueError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ValueError(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def extract(asset: Asset, data: bytes, into: Path) -> list[str]:
    """Write the asset's listed files, and every file they refer to, from the tarball ``data``.

    npm packs a package's files under ``package/``. Returns the paths written, relative to ``into``.
    """
    written: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        # (path in the package, path under ``into``, the listed file that refers to it or "")
        pending = [(inside, target, "") for inside, target in asset.files.items()]
        while pending:
            inside, target, referrer = pending.pop(0)
            if target in written:
                continue
            try:
                member = archive.extractfile(f"package/{inside}")
            except KeyError:
                member = None
            if member is None:
                name = f"{asset.package}@{asset.version}"
                if referrer:
                    raise ValueError(f"{name}: {referrer} refers to {inside}, which the package does not contain")
                raise ValueError(f"{name} has no file {inside}")
            content = member.read()
            path = into / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            written.append(target)
            for reference in references(inside, content.decode("utf-8", errors="replace")):
                pending.append((beside(inside, reference), beside(target, reference), inside))
    return written


def install(assets: list[Asset] = ASSETS, into: Path = ASSETS_DIR) -> list[str]:
    """Fetch, check and extract every asset not installed yet; the names of those installed now."""
    installed = []
    for asset in assets:
        if _installed(asset, into):
            continue
        with urllib.request.urlopen(asset.tarball, timeout=60) as response:  # noqa: S310 (a pinned https URL)  # nosec B310
            data = response.read()
        verify(data, asset.integrity)
        extracted = extract(asset, data, into)
        _stamp(asset, into).write_text("".join(f"{target}\n" for target in extracted))
        installed.append(f"{asset.package}@{asset.version}")
    return installed


if __name__ == "__main__":
    try:
        for name in install():
            print(f"installed {name}")
        if "--with-test-assets" in sys.argv[1:]:
            for name in install(TEST_ASSETS, TEST_ASSETS_DIR):
                print(f"installed {name} (for the tests)")
    except (OSError, ValueError) as error:
        sys.exit(f"portal.assets: {error}")
