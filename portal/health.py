"""Liveness and readiness: what `/healthz` and `/readyz` report."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = "portal:worker-heartbeat:"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def redis_client() -> redis.Redis[bytes]:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def record_worker_heartbeat(hostname: str) -> None:
    """Called by every worker on a timer; the key lapses when the worker stops beating."""
    expiry = settings.WORKER_HEARTBEAT_SECONDS * 3
    redis_client().set(HEARTBEAT_KEY + hostname, str(time.time()), ex=expiry)


def forget_worker_heartbeat(hostname: str) -> None:
    redis_client().delete(HEARTBEAT_KEY + hostname)


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", reported by type only
        return Check("database", False, f"unreachable ({type(error).__name__})")
    return Check("database", True, "ok")


def check_redis() -> Check:
    try:
        redis_client().ping()
    except redis.RedisError as error:
        return Check("redis", False, f"unreachable ({type(error).__name__})")
    return Check("redis", True, "ok")


def check_worker() -> Check:
    try:
        keys = list(redis_client().scan_iter(match=HEARTBEAT_KEY + "*", count=100))
    except redis.RedisError as error:
        return Check("worker", False, f"unknown, Redis unreachable ({type(error).__name__})")
    if not keys:
        return Check("worker", False, "no Celery worker heartbeat")
    return Check("worker", True, f"{len(keys)} worker(s) alive")


def readiness() -> list[Check]:
    return [check_database(), check_redis(), check_worker()]
