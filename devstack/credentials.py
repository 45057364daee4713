"""Local credentials, generated once at first start into the state folder (mode 0600).

Every secret file of the stack is written through :func:`write_private`: created with mode 0600
from its first byte, never made private afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "credentials.json"
MLFLOW_ADMIN = "admin"  # people: the MLflow UI
MLFLOW_PIPELINE = "pipeline"  # the tasks and Ray jobs (the mlflow_default connection)


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
    ray_auth_token: str = ""
    mlflow_admin_password: str = ""
    mlflow_pipeline_password: str = ""
    mlflow_flask_secret_key: str = ""
    postgres_password: str = ""

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
        ray_auth_token=secrets.token_hex(32),  # what `ray get-auth-token --generate` makes
        mlflow_admin_password=_token(mixed, 24),
        mlflow_pipeline_password=_token(mixed, 24),
        mlflow_flask_secret_key=_token(mixed, 48),
        postgres_password=_token(mixed, 32),
    )


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte on.

    The file is created with mode 0600 under a temporary name and renamed into place, so a
    reader never sees a partial file and no wider mode ever exists (a umask only removes bits).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def load_or_create(state_dir: Path) -> tuple[Credentials, bool]:
    """Read the stack's credentials, generating them on first use.

    Returns:
        The credentials, and whether they were created just now.
    """
    path = state_dir / FILE_NAME
    if path.exists():
        data = json.loads(path.read_text())
        fresh = asdict(generate())
        missing = {k: v for k, v in fresh.items() if not data.get(k)}
        if missing:  # a state folder from before a secret existed: add it, keep the others
            data.update(missing)
            write_private(path, json.dumps(data, indent=2))
        return Credentials(**{k: data[k] for k in fresh}), False
    creds = generate()
    write_private(path, json.dumps(asdict(creds), indent=2))
    return creds, True
