"""The devstack's key-encryption key: made on first run under the data directory, readable
by its owner only, and reused on every later run (losing it loses what it sealed)."""

from __future__ import annotations

import os
from pathlib import Path

from services.kit.secrets import SecretBox, generate_key

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)


def stored_secret_key(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        # A damaged file is better reported here than by every service at start.
        SecretBox.from_text(key)
        return key
    key = generate_key()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")
    return key
