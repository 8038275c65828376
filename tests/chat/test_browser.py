"""The chat page in a real headless Chromium: it loads, streams one answer per model, recovers
from an empty prompt, and the job saves the conversation when stopped (Ctrl-C)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromedriver not found (apt-get install chromium chromium-driver)",
)
PROMPT = "艾滋病是怎么传播的？"
SCREENSHOT = ROOT / "docs" / "images" / "chat.png"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(models: list[Path], run_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `bioqwen chat` on a free port; return it and its URL once it serves."""
    command = [
        sys.executable, "-m", "bioqwen.cli", "chat", f"models=[{','.join(map(str, models))}]",
        f"port={_port()}", "generation.do_sample=true", "generation.temperature=1.0",
        "generation.top_p=1.0", "generation.max_new_tokens=40", f"hydra.run.dir={run_dir}",
        "tracking=disabled",  # the W&B table is checked in tests/jobs/test_chat.py
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    watchdog = threading.Timer(300, server.kill)  # a server that never serves must not hang CI
    watchdog.start()
    for line in server.stdout:
        if "serving http" in line:
            watchdog.cancel()
            # Keep reading its output, so a full pipe never blocks the server.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, line.split("serving ")[1].split()[0]
    watchdog.cancel()
    server.wait(timeout=30)
    raise AssertionError(f"bioqwen chat exited with {server.returncode} before serving")


def _browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1500,1100")
    # An explicit driver path: selenium-manager must never try to download one.
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_page_streams_one_answer_per_model_and_chat_is_saved(chat_models, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir = tmp_path / "run"
    server, url = _start(chat_models, run_dir)
    driver = None
    try:
        driver = _browser()
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#bq-prompt textarea"))
        assert "3 models side by side" in driver.find_element(By.TAG_NAME, "body").text
        send = driver.find_element(By.CSS_SELECTOR, "#bq-send")

        send.click()  # an empty prompt: a message on the page, nothing generated
        wait.until(lambda d: "prompt is empty" in d.find_element(By.ID, "bq-status").text)

        box.send_keys(PROMPT)
        send.click()

        def answered(d):  # type: ignore[no-untyped-def]
            stats = [d.find_element(By.ID, f"bq-stats-{i}").text for i in range(3)]
            return all("tokens/s" in s for s in stats) and stats

        stats = wait.until(answered)
        answers = [driver.find_element(By.ID, f"bq-answer-{i}").text for i in range(3)]
        assert all(PROMPT in a for a in answers)  # each column shows the prompt and its answer
        assert all(len(a.replace(PROMPT, "").strip()) > 0 for a in answers)
        assert "prompt language: zh" in driver.find_element(By.ID, "bq-status").text
        driver.save_screenshot(str(tmp_path / "chat.png"))
        if os.environ.get("BIOQWEN_UPDATE_SCREENSHOTS"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "chat.png", SCREENSHOT)
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert server.returncode == 0, stats
    (turn,) = [json.loads(line) for line in (run_dir / "conversations.jsonl").open()]
    assert turn["prompt"] == PROMPT and turn["prompt_lang"] == "zh"
    assert [a["model"] for a in turn["answers"]] == ["tiny-a", "tiny-b", "run-tiny-c"]
    assert all(a["new_tokens"] > 0 and a["error"] is None for a in turn["answers"])
    assert json.loads((run_dir / "metrics.json").read_text())["turns"] == 1
