"""Local credentials, generated once at first start into the state folder (mode 0600)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    lakefs_access_key_id: str
    lakefs_secret_access_key: str
    lakefs_encrypt_secret: str
    s3_access_key_id: str
    s3_secret_access_key: str
    airflow_username: str
    airflow_password: str
    airflow_jwt_secret: str
    airflow_api_secret_key: str
    airflow_fernet_key: str

    def secret_values(self) -> list[str]:
        """Every generated secret, for leak scans of logs and metadata."""
        return [v for k, v in asdict(self).items() if k not in ("airflow_username",)]


def _token(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate() -> Credentials:
    upper = string.ascii_uppercase + string.digits
    mixed = string.ascii_letters + string.digits
    return Credentials(
        lakefs_access_key_id="AKIAJ" + _token(upper, 15),
        lakefs_secret_access_key=_token(mixed, 40),
        lakefs_encrypt_secret=_token(mixed, 48),
        s3_access_key_id="LANDING" + _token(upper, 13),
        s3_secret_access_key=_token(mixed, 40),
        airflow_username="admin",
        airflow_password=_token(mixed, 20),
        airflow_jwt_secret=_token(mixed, 48),
        airflow_api_secret_key=_token(mixed, 48),
        airflow_fernet_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    )


def load_or_create(state_dir: Path) -> tuple[Credentials, bool]:
    """Read the stack's credentials, generating them on first use.

    Returns:
        The credentials, and whether they were created just now.
    """
    path = state_dir / FILE_NAME
    if path.exists():
        data = json.loads(path.read_text())
        return Credentials(**data), False
    state_dir.mkdir(parents=True, exist_ok=True)
    creds = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(creds), fh, indent=2)
    return creds, True
