"""Front-end assets from npm: integrity-checked at install, served locally as static files."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from portal.assets import ASSETS, Asset, extract, verify


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_a_tarball_that_does_not_match_its_pinned_integrity_is_refused() -> None:
    data = tarball({"dist/lib.js": b"console.log('hi')"})
    verify(data, sri(data))

    with pytest.raises(ValueError, match="integrity mismatch"):
        verify(data + b"tampered", sri(data))
    with pytest.raises(ValueError, match="unsupported integrity algorithm 'md5'"):
        verify(data, "md5-abc")


def test_the_listed_files_are_extracted_where_the_static_files_expect_them(tmp_path: Path) -> None:
    asset = Asset("lib", "1.0.0", "", {"dist/lib.min.js": "lib/lib.min.js"})

    extract(asset, tarball({"dist/lib.min.js": b"x=1", "README.md": b"not wanted"}), tmp_path)

    assert (tmp_path / "lib" / "lib.min.js").read_bytes() == b"x=1"
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["lib.min.js"]
    with pytest.raises(ValueError, match=r"has no file dist/missing\.js"):
        extract(Asset("lib", "1.0.0", "", {"dist/missing.js": "x.js"}), tarball({}), tmp_path)


def test_the_installed_assets_are_served_from_the_portal_itself() -> None:
    for asset in ASSETS:
        for target in asset.files.values():
            assert finders.find(f"vendor/{target}"), f"{asset.package}: vendor/{target} is not installed"
