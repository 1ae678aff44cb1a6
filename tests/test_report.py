"""The HTML report: self-contained, with its plots, and rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from agent.data import load_dataset
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.report import write_report
from agent.runner import run_optimizer
from agent.store import Store

CLASSES = ("sports", "weather", "cooking", "finance")
PLOTS = ("plot-fitness", "plot-accuracy", "plot-recall")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    llm = ReplayLLM([
        json.dumps({"templates": ["A news story about {}.", "Topic: {}."]}),
        json.dumps({"renamings": [{name: f"{name} news" for name in CLASSES}]}),
        json.dumps({"descriptions": [{name: [f"A sentence about {name}."] for name in CLASSES}]}),
    ])
    run_optimizer(load_dataset("demo"), target="st:all-MiniLM-L6-v2", llm=llm,
                  settings=Settings(steps=1, candidates_per_step=2), runs_dir=runs_dir, run="report")
    store = Store(runs_dir / "history.db")
    try:
        return write_report(store, "report", runs_dir / "report.html")
    finally:
        store.close()


def chromium(*arguments: str, user_data_dir) -> subprocess.CompletedProcess:
    command = [shutil.which("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_report_has_plots(report):
    page = report.read_text()
    for plot in PLOTS:
        assert f'id="{plot}"' in page


def test_report_images_inline(report):
    sources = re.findall(r'src="([^"]*)"', report.read_text())
    assert len(sources) == 3
    assert all(source.startswith("data:image/png;base64,") for source in sources)


def test_report_no_remote_links(report):
    page = report.read_text()
    assert "http://" not in page
    assert "https://" not in page


def test_report_lists_best_prompts(report):
    assert "Best prompts per class" in report.read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_report_renders_in_chromium(report, tmp_path):
    # A copy of the page with a script that reports, in the title, how many images decoded.
    probe = tmp_path / "probe.html"
    script = (
        "<script>window.addEventListener('load', () => { document.title = 'decoded ' + "
        "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length; });</script>"
    )
    probe.write_text(report.read_text().replace("</body>", script + "</body>"))
    dom = chromium("--dump-dom", probe.as_uri(), user_data_dir=tmp_path / "profile-dom").stdout
    assert "<title>decoded 3</title>" in dom
    screenshot = tmp_path / "report.png"
    chromium("--window-size=1200,2400", f"--screenshot={screenshot}", report.as_uri(), user_data_dir=tmp_path / "profile-shot")
    pixels = np.asarray(Image.open(screenshot).convert("L"))
    assert pixels.shape == (2400, 1200)
    assert len(np.unique(pixels)) > 50
