"""Front-end assets from npm: integrity-checked at install, served locally as static files."""

from __future__ import annotations

import base64
import hashlib
import io
import posixpath
import re
import tarfile
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from portal.assets import ASSETS, TEST_ASSETS, TEST_ASSETS_DIR, Asset, beside, extract, references, verify


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


def test_what_a_listed_file_refers_to_is_extracted_beside_it(tmp_path: Path) -> None:
    script = b"x=1;\n//# sourceMappingURL=lib.min.js.map"
    stylesheet = b"""@import "theme.css";\n.icon{background:url('../fonts/icons.woff2?v=2#x')}
.logo{background:url("data:image/svg+xml,%3csvg%3e")}\n/*# sourceMappingURL=lib.css.map */"""
    package = tarball(
        {
            "dist/lib.min.js": script,
            "dist/lib.min.js.map": b"{}",
            "dist/lib.css": stylesheet,
            "dist/theme.css": b".a{color:red}",
            "dist/lib.css.map": b"{}",
            "fonts/icons.woff2": b"font",
            "dist/unused.js.map": b"{}",
        }
    )
    asset = Asset("lib", "1.0.0", "", {"dist/lib.min.js": "lib/js/lib.min.js", "dist/lib.css": "lib/css/lib.css"})

    written = extract(asset, package, tmp_path)

    assert sorted(written) == [
        "lib/css/lib.css",
        "lib/css/lib.css.map",
        "lib/css/theme.css",
        "lib/fonts/icons.woff2",
        "lib/js/lib.min.js",
        "lib/js/lib.min.js.map",
    ]
    assert (tmp_path / "lib/fonts/icons.woff2").read_bytes() == b"font"


def test_a_reference_the_package_cannot_satisfy_stops_the_install_and_says_which(tmp_path: Path) -> None:
    package = tarball({"dist/lib.min.js": b"x=1;\n//# sourceMappingURL=lib.min.js.map"})

    with pytest.raises(ValueError, match=r"lib@1\.0\.0: dist/lib\.min\.js refers to dist/lib\.min\.js\.map, which"):
        extract(Asset("lib", "1.0.0", "", {"dist/lib.min.js": "lib/lib.min.js"}), package, tmp_path)
    with pytest.raises(ValueError, match="outside its package"):
        beside("dist/lib.css", "../../../etc/passwd")


def test_every_reference_in_a_served_static_file_resolves() -> None:
    """collectstatic with the manifest storage (DEBUG off) refuses a reference to a missing file; catch it here."""
    checked, unresolved = 0, []
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            if not path.endswith((".css", ".js")):
                continue
            name = posixpath.join(getattr(storage, "prefix", None) or "", path)  # its URL under STATIC_URL
            with storage.open(path) as file:
                found = references(name, file.read().decode("utf-8", errors="replace"))
            checked += len(found)
            unresolved += [f"{name} -> {ref}" for ref in found if not finders.find(beside(name, ref))]
    assert checked > 0, "no reference found at all: the scan is not looking"
    assert unresolved == []


def test_the_installed_assets_are_served_from_the_portal_itself() -> None:
    for asset in ASSETS:
        for target in asset.files.values():
            assert finders.find(f"vendor/{target}"), f"{asset.package}: vendor/{target} is not installed"


def test_the_assets_only_the_tests_use_are_installed_but_never_served() -> None:
    for asset in TEST_ASSETS:
        for target in asset.files.values():
            assert (TEST_ASSETS_DIR / target).is_file(), f"{asset.package}: {target} is not installed (make install)"
            assert finders.find(f"vendor/{target}") is None, f"{asset.package}: {target} would be served"
            assert finders.find(target) is None, f"{asset.package}: {target} would be served"


def test_the_portals_stylesheet_closes_every_block_it_opens() -> None:
    """A block left open swallows every rule after it (the browser reads them as its declarations)."""
    css = re.sub(
        r"/\*.*?\*/", "", (Path(__file__).resolve().parent.parent / "static/portal/portal.css").read_text(), flags=re.S
    )
    depth = 0
    for character in css:
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0, "a } closes nothing"
    assert depth == 0, "a block is left open"
