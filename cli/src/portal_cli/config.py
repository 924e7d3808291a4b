"""Where ``portal`` keeps its sign-in: one JSON file in the user's config directory, readable by its owner only.

``PORTAL_URL`` and ``PORTAL_TOKEN`` in the environment win over the file (CI signs in with them and nothing is
written); ``PORTAL_CONFIG`` names another file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "portal"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


@dataclass(frozen=True)
class Credentials:
    """A portal's address and the API token the client sends to it (``Authorization: Bearer <token>``).

    ``token_id`` is set when ``portal login`` created the token from a password, so ``portal logout`` can revoke
    it; a pasted token stays its owner's to revoke.
    """

    url: str
    token: str
    token_id: int | None = None
    token_name: str = ""
    username: str = ""


def config_path() -> Path:
    given = os.environ.get("PORTAL_CONFIG", "").strip()
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.json"


def load() -> Credentials | None:
    """The stored sign-in, or None when there is none (or it cannot be read as one)."""
    path = config_path()
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not isinstance(data.get("token"), str):
        return None
    token_id = data.get("token_id")
    return Credentials(
        url=data["url"],
        token=data["token"],
        token_id=token_id if isinstance(token_id, int) else None,
        token_name=str(data.get("token_name") or ""),
        username=str(data.get("username") or ""),
    )


def save(credentials: Credentials) -> Path:
    """Write the sign-in atomically, the file mode 0600 from its first byte (and its directory 0700)."""
    path = config_path()
    path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    # mkstemp creates the file 0600; replacing the old file keeps no other mode or content.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            json.dump(asdict(credentials), file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def forget() -> bool:
    """Delete the stored sign-in; whether there was one."""
    path = config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
