"""rnnlab serve: real HTTP requests against a server started on a free local port, then stopped."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from rnnlab.training.predict import predict

uvicorn = pytest.importorskip("uvicorn", reason="rnnlab serve needs uvicorn (pip install -e '.[serve]')")
from rnnlab.training.serve import MAX_BODY, explorer_app  # noqa: E402


@pytest.fixture(scope="module")
def server(text_run):
    """The server of ``text_run`` on 127.0.0.1 and a free port, in a thread; stopped after the tests."""
    yield from _serve(explorer_app(text_run, device="cpu", example="haus"))


def _serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", running, thread, sock.getsockname()[1]
    running.should_exit = True
    thread.join(10)


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url + "/api/explore", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_page_and_a_new_inputs_prediction_match_rnnlab_predict(server, text_run):
    url = server[0]
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        page = response.read().decode("utf-8")
    assert response.status == 200 and '<form id="live">' in page and '"input":"haus"' in page
    status, answer = _post(url, json.dumps({"input": "fenster"}).encode())
    assert status == 200
    assert answer["prediction"] == predict(text_run, ["fenster"], None, device="cpu")
    (view,) = answer["group"]["views"]
    assert view["tokens"] == list("fenster") and len(view["tracks"][0]["gradient"]) == 7


@pytest.mark.parametrize("body, content_type, status, message", [
    (b'{"input": ""}', "application/json", 422, "empty input"),
    (b'{"input": "   "}', "application/json", 422, "empty input"),
    (json.dumps({"input": "a" * (1 << 20)}).encode(), "application/json", 413, "over"),
    (json.dumps({"input": "a" * 1001}).encode(), "application/json", 422, "more than the limit"),
    (b"input=haus", "application/x-www-form-urlencoded", 415, "application/json"),
    (b"haus", "text/plain", 415, "application/json"),
    (b"{not json", "application/json", 400, "must be JSON"),
    (b'{"text": "haus"}', "application/json", 400, "must be JSON"),
    (b'{"input": 5}', "application/json", 400, "must be a string"),
    (b'[1, 2]', "application/json", 400, "must be JSON"),
])
def test_bad_requests_get_a_4xx_and_the_server_keeps_serving(server, body, content_type, status, message):
    url = server[0]
    got, answer = _post(url, body, content_type)
    assert got == status and message in answer["error"]
    assert _post(url, b'{"input": "haus"}')[0] == 200
    assert MAX_BODY < len(json.dumps({"input": "a" * (1 << 20)}))


def test_typing_an_input_in_the_page_redraws_it_for_that_input(server):
    from rnnlab.bench.browser import BrowserMissingError, browser_paths, console_errors, headless_chromium

    try:
        browser_paths()
    except BrowserMissingError as missing:
        pytest.skip(f"no headless browser: {missing}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium() as driver:
        driver.get(server[0] + "/")
        assert driver.find_element(By.CSS_SELECTOR, ".group-title").text == "Input: haus"
        driver.find_element(By.CSS_SELECTOR, "#live textarea").send_keys("fenster")
        driver.find_element(By.CSS_SELECTOR, "#live button").click()
        title = "return document.querySelector('.group-title').textContent"  # read at once: the page is redrawn
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(title) == "Input: fenster")
        assert len(driver.find_elements(By.CSS_SELECTOR, ".tokens .step")) == 7
        prediction = driver.find_element(By.CSS_SELECTOR, "#live .live-prediction").text
        assert prediction.startswith("fenster") and console_errors(driver) == []


def test_the_server_stops_cleanly(server):
    url, running, thread, port = server
    running.should_exit = True
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_forecast_run_serves_its_last_test_forecast_and_forecasts_from_pasted_csv(forecast_run):
    recent = forecast_run.parent / "recent.csv"
    for url, *_ in _serve(explorer_app(forecast_run, device="cpu")):  # served for the loop's body, then stopped
        with urllib.request.urlopen(url + "/", timeout=30) as response:
            page = response.read().decode("utf-8")
        assert "Paste the CSV of the series" in page
        assert '"input":"the last forecast of the run\'s test stretch"' in page
        status, answer = _post(url, json.dumps({"input": recent.read_text()}).encode())
        assert status == 200 and answer["prediction"] == predict(forecast_run, [], None, device="cpu", data=recent)
        (view,) = answer["group"]["views"]
        assert view["prediction"]["kind"] == "forecast" and view["steps"] == 48
        lines = recent.read_text().splitlines()
        status, answer = _post(url, json.dumps({"input": "\n".join(lines[:50]) + "\n"}).encode())
        assert status == 422 and answer["error"].startswith("the series has 49 steps with a known 'load'")
        status, answer = _post(url, json.dumps({"input": "\n".join([lines[0], lines[1], "x,1,2"])}).encode())
        assert status == 422 and answer["error"].startswith("the CSV text:"), answer
