"""Headless Chromium through Selenium, with Debian's chromium and chromium-driver.

Outside CI a machine without them skips the browser tests with a clear message; with
``FRONTDESK_REQUIRE_BROWSER`` or ``CI`` set, they fail instead. The network is closed:
Chromium is started so that it calls nothing home, with a fresh profile.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("FRONTDESK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("FRONTDESK_CHROMEDRIVER", "/usr/bin/chromedriver"))
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: A phone's viewport: the page is mobile-first.
WINDOW = (390, 844)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)


def required() -> bool:
    return bool(os.environ.get("FRONTDESK_REQUIRE_BROWSER") or os.environ.get("CI"))


def unavailable(reason: str) -> None:
    message = (
        f"the browser tests need headless Chromium: {reason} "
        "(apt-get install -y chromium chromium-driver; pip install selenium)"
    )
    if required():
        pytest.fail(message + " — FRONTDESK_REQUIRE_BROWSER/CI is set, so this fails")
    pytest.skip(message)


def start(profile: Path, *, javascript: bool = True) -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        unavailable(f"selenium is not installed ({exc})")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            unavailable(f"{path} is missing")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except Exception as exc:
        unavailable(f"Chromium did not start ({type(exc).__name__}: {exc})")
    phone(driver)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def phone(driver: Any) -> None:
    """A phone's viewport for the current tab (headless windows are 500 px or wider)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": True},
    )


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (beyond the viewport) as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    return path


def axe(driver: Any) -> dict[str, Any]:
    """axe-core's WCAG 2.0/2.1/2.2 A and AA rules and its best practices, run in the page
    (injected through WebDriver, not loaded by the page)."""
    driver.execute_script(AXE.read_text())
    result: dict[str, Any] = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: [
            'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
          .then(r => done({
            violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.target.join(' '))})),
            passes: r.passes.map(p => p.id),
            incomplete: r.incomplete.map(i => ({id: i.id,
              nodes: i.nodes.map(n => n.target.join(' '))}))}))
          .catch(e => done({error: String(e)}));
        """
    )
    assert "error" not in result, result
    return result


def assert_accessible(driver: Any) -> dict[str, Any]:
    result = axe(driver)
    assert result["violations"] == [], json.dumps(result["violations"], indent=1)
    return result


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(
    foreground: tuple[float, float, float], background: tuple[float, float, float]
) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_contrasts(driver: Any) -> list[tuple[str, float]]:
    """Every element with its own text: (its text, the contrast of its computed colour on
    the first opaque background behind it), computed from the DOM."""
    pairs = driver.execute_script(
        """
        const parse = c => c.match(/[\\d.]+/g).map(Number);
        const out = [];
        for (const el of document.querySelectorAll('body *')) {
          const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
          const isControl = el.matches('input, button');
          if (!own && !isControl) continue;
          const style = getComputedStyle(el);
          if (style.display === 'none' || style.visibility === 'hidden') continue;
          let bg = null;
          for (let n = el; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c.length < 4 || c[3] > 0) { bg = c.slice(0, 3); break; }
          }
          out.push([(el.textContent || el.value || el.tagName).trim().slice(0, 40),
                    parse(style.color).slice(0, 3), bg || [255, 255, 255]]);
        }
        return out;
        """
    )
    return [(text, contrast(tuple(fg), tuple(bg))) for text, fg, bg in pairs]
