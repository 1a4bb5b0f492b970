"""`relay dispatcher`: the worker on its own, in a process of its own, relays memos."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from service.auth.models import User
from service.companies.models import Company
from service.dispatch.models import Delivery, DeliveryStatus
from service.settings import Settings
from tests.dispatch.conftest import take_memo


def test_a_lone_dispatcher_process_relays_a_memo(
    engine: Engine,
    session: Session,
    settings: Settings,
    operator: User,
    company: Company,
    tmp_path: Path,
) -> None:
    from service import clock
    from service.clock import SystemClock

    with clock.use_clock(SystemClock()):
        memo = take_memo(session, operator, category="inquiry")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update({"RELAY_DATABASE_URL": settings.database_url, "RELAY_SECRET_KEY": "x" * 24})
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "dispatcher"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            with Session(engine) as check:
                row = check.exec(select(Delivery).where(Delivery.memo_id == memo.id)).one()
                status = row.status
            if status == DeliveryStatus.sent:
                break
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.1)
        assert status == DeliveryStatus.sent
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode in (0, -15)
