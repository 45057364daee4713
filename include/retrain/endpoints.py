"""Plain descriptions of the services a task talks to, built from Airflow connections
(see ``adapters.connections``) or from the local stack. No Airflow import here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LakeFSEndpoint:
    url: str
    access_key_id: str
    secret_access_key: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"LakeFSEndpoint(url={self.url!r}, access_key_id={self.access_key_id!r})"
