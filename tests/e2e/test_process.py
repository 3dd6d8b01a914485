"""The bot as users run it: ``python -m bot`` in its own process, against the fakes.

Start-up errors, ``--sandbox``, SIGTERM and kill -9 in the middle of a form, and logs that
never show a secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.devtools.sandbox import Sandbox
from tests.conftest import TEST_TOKEN, World
from tests.fakes.telegram import FakeTelegram

OPERATOR_KEY = "sk_test_operator_key_0042"


class BotProcess:
    """``python -m bot`` with a given environment; its stderr is kept for the log checks."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = b""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout=30)
        self.stderr += err
        return self.proc.returncode if self.proc.returncode is not None else -1


def bot_env(tg: FakeTelegram, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": tg.base_url,
        "BOT_DATA_DIR": str(data_dir),
        "POLL_INTERVAL_SECONDS": "0.5",
        "LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.update(extra)
    return env


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for process in started:
        if process.proc is not None and process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


async def test_python_m_bot_sandbox_answers_start(
    tg: FakeTelegram, tmp_path: Path, processes: list[BotProcess]
) -> None:
    bot = BotProcess(bot_env(tg, tmp_path), "--sandbox", "--sandbox-port", "0")
    processes.append(bot)
    await bot.start()
    alice = tg.user(601, "Alice")
    await tg.send_text(alice, "/start")
    reply = await tg.wait_for_message(alice.id, timeout=30)
    assert "Alice" in reply.content and "Test mode" in reply.content
    # A quick create goes to the embedded sandbox and comes back as a QR card.
    await tg.send_text(alice, "/new 5000 Sambusa")
    card = await tg.wait_for_message(alice.id, lambda m: m.photo is not None, timeout=30)
    assert "/generation/pay/sambusa" in card.content
    assert await bot.stop() == 0
    assert TEST_TOKEN.encode() not in bot.stderr
    assert b"Traceback" not in bot.stderr


async def test_form_survives_kill_9_and_messages_sent_while_down_are_answered(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, processes: list[BotProcess]
) -> None:
    vendor = tg.user(602, "Vendor")
    env = bot_env(
        tg,
        tmp_path,
        DGS_API_BASE_URL=sandbox.api_base_url,
        DGS_API_KEY=OPERATOR_KEY,
        DGS_ALLOWED_USERS=f"{vendor.id}, 9999",
    )
    first = BotProcess(env)
    processes.append(first)
    await first.start()
    await tg.send_text(vendor, "/new")
    kind = await tg.wait_for_message(vendor.id, timeout=30)
    await tg.press(vendor, kind, text="Fixed amount")
    await tg.wait_for_message(vendor.id, lambda m: "payment for" in m.content)
    await tg.send_text(vendor, "Sewing a dress")
    currency = await tg.wait_for_message(vendor.id, lambda m: "Which currency" in m.content)
    # The step is written right after the reply (handlers/gates.py:persist_now); a kill in
    # the few milliseconds between the two would replay the previous step.
    await asyncio.sleep(0.5)
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL

    # While the bot is down the vendor answers; the update waits at Telegram.
    await tg.press(vendor, currency, text="RWF")
    second = BotProcess(env)
    processes.append(second)
    await second.start()
    amount = await tg.wait_for_message(vendor.id, lambda m: "How much" in m.content, timeout=30)
    assert "RWF" in amount.content
    await tg.send_text(vendor, "12000")
    summary = await tg.wait_for_message(vendor.id, lambda m: "Check your link" in m.content)
    assert "Sewing a dress" in summary.content
    await tg.press(vendor, summary, text="✅ Create link")
    card = await tg.wait_for_message(vendor.id, lambda m: m.photo is not None, timeout=15)
    assert "Sewing a dress" in card.content
    assert await second.stop() == 0
    # Each update was answered once: one "How much" prompt, not two.
    prompts = [m for m in tg.history(vendor.id) if m.from_bot and "How much" in m.content]
    assert len(prompts) == 1
    logs = first.stderr + second.stderr
    assert TEST_TOKEN.encode() not in logs
    assert OPERATOR_KEY.encode() not in logs


def _run_main(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "DGS_", "BOT_", "POLL_", "LOG_LEVEL")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(list(argv))


def test_missing_token_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    assert _run_main(monkeypatch, {}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TELEGRAM_BOT_TOKEN" in err and "BotFather" in err and "--sandbox" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot"),
        ("DGS_API_BASE_URL", "ftp://example"),
        ("DGS_ALLOWED_USERS", "12, alice"),
        ("POLL_INTERVAL_SECONDS", "soon"),
        ("POLL_INTERVAL_SECONDS", "-1"),
        ("BOT_DEFAULT_LANGUAGE", "de"),
        ("BOT_DEFAULT_CURRENCY", "XYZ"),
        ("LOG_LEVEL", "LOUD"),
        ("DGS_REQUESTS_PER_SECOND", "0"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"TELEGRAM_BOT_TOKEN": TEST_TOKEN, variable: value}
    assert _run_main(monkeypatch, env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert variable in err and "Traceback" not in err


def test_a_malformed_dotenv_file_is_reported_the_same_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TEST_TOKEN}\nBOT_DEFAULT_LANGUAGE=xx\n")
    assert _run_main(monkeypatch, {}) == 2
    assert "BOT_DEFAULT_LANGUAGE" in capsys.readouterr().err


def test_a_wrong_encryption_key_stops_with_a_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"TELEGRAM_BOT_TOKEN": TEST_TOKEN, "BOT_ENCRYPTION_KEY": "not-a-fernet-key"}
    assert _run_main(monkeypatch, env) == 2
    err = capsys.readouterr().err
    assert "BOT_ENCRYPTION_KEY" in err and "not-a-fernet-key" not in err


def test_an_unusable_data_dir_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    env = {"TELEGRAM_BOT_TOKEN": TEST_TOKEN, "BOT_DATA_DIR": str(tmp_path / "a-file" / "data")}
    assert _run_main(monkeypatch, env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BOT_DATA_DIR" in err and "Traceback" not in err


async def test_a_stop_lets_running_jobs_finish_and_starts_none(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # The notifier's jobs fire every second; one that started between PTB's wait for running
    # jobs and APScheduler's shutdown used to be cancelled and logged with a traceback.
    started: list[int] = []
    finished: list[int] = []

    async def busy(_: object) -> None:
        started.append(len(started))
        await asyncio.sleep(0.02)
        finished.append(len(finished))

    assert world.app.job_queue is not None
    for n in range(4):
        world.app.job_queue.run_repeating(
            busy, interval=0.003, name=f"test:busy{n}", job_kwargs={"max_instances": 8}
        )
    await asyncio.sleep(0.3)
    await world.stop()
    assert started
    assert len(finished) == len(started)
    raised = [r for r in caplog.records if r.name.startswith("apscheduler") and r.exc_info]
    assert raised == []
