"""The explorer page in a real headless browser (Debian's chromium, driven by Selenium through its chromedriver):
it loads without console errors, has one step column per input step, moves with the slider and the arrow keys,
and shows for a step the numbers of the model's own trace.  Skipped, saying why, where no browser is installed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab import cli
from rnnlab.bench.browser import BrowserMissingError, browser_paths, console_errors, headless_chromium, open_page
from rnnlab.nn.diagnostics import gradient_flow
from rnnlab.training import load_run
from tests.helpers import text_traces

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

TOLERANCE = 1.5e-4  # the page shows 4 decimals


@pytest.fixture(scope="module")
def browser():
    try:
        browser_paths()
    except BrowserMissingError as missing:
        pytest.skip(f"no headless browser: {missing}")
    with headless_chromium() as driver:
        yield driver


def _explore(tmp_path, *args) -> object:
    page = tmp_path / "page.html"
    cli.main(["explore", *map(str, args), "--output", str(page)])
    return page


def _groups(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#explorer > .group")


def _shown(group, view: int, series: str, units: range) -> list[float]:
    pane = group.find_elements(By.CSS_SELECTOR, ".view")[view]
    return [float(pane.find_element(By.CSS_SELECTOR, f"td.num[data-series='{series}'][data-unit='{u}']").text)
            for u in units]


def _current(group, view: int = 0) -> int:
    pane = group.find_elements(By.CSS_SELECTOR, ".view")[view]
    (current,) = pane.find_elements(By.CSS_SELECTOR, ".tokens .step.current")
    return int(current.get_attribute("data-column"))


def _slide(driver, group, column: int) -> None:
    slider = group.find_element(By.CSS_SELECTOR, "input.time")
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", slider, column)


def test_the_page_loads_without_console_errors_with_one_column_per_input_step(browser, text_run, tmp_path):
    open_page(browser, _explore(tmp_path, text_run, "haus", "zeitung"))
    assert console_errors(browser) == []
    groups = _groups(browser)
    assert [len(g.find_elements(By.CSS_SELECTOR, ".view .tokens .step")) for g in groups] == [4, 7]
    assert [s.text for s in groups[1].find_elements(By.CSS_SELECTOR, ".tokens .step")] == list("zeitung")
    assert len(groups[0].find_elements(By.CSS_SELECTOR, "canvas.strip")) == 6 + 1  # h c i f g o, the prediction


def test_the_slider_arrow_keys_and_layer_switch_show_the_numbers_of_the_models_trace(browser, text_run, tmp_path):
    _, task, model = load_run(text_run, device="cpu")
    batch, traces = text_traces(task, model, "zeitung")
    open_page(browser, _explore(tmp_path, text_run, "zeitung"))
    (group,) = _groups(browser)
    assert _current(group) == 0
    _slide(browser, group, 2)
    assert _current(group) == 2
    assert group.find_element(By.CSS_SELECTOR, ".step-label").text.endswith("3 of 7: i")
    for series, values in (("h", traces[0].states[0]), ("c", traces[0].states[1]), ("f", traces[0].gates["f"])):
        expected = values[2, 0, :5].tolist()
        assert max(abs(a - b) for a, b in zip(_shown(group, 0, series, range(5)), expected)) < TOLERANCE, series

    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).send_keys(Keys.ARROW_RIGHT).perform()
    assert _current(group) == 4
    assert max(abs(a - b) for a, b in zip(_shown(group, 0, "h", range(16)), traces[0].states[0][4, 0].tolist())) \
        < TOLERANCE

    Select(group.find_element(By.CSS_SELECTOR, "select.track")).select_by_visible_text("layer 0, reverse")
    assert _current(group) == 4
    assert max(abs(a - b) for a, b in zip(_shown(group, 0, "h", range(16)), traces[1].states[0][4, 0].tolist())) \
        < TOLERANCE

    predicted = task.logits(model, batch).argmax(-1)  # the gradient shown is that of the predicted label's loss
    flows = gradient_flow(model, lambda: F.cross_entropy(task.logits(model, batch), predicted))
    shown = float(group.find_element(By.CSS_SELECTOR, ".grad-value").text)
    assert abs(shown - float(flows[1].norms[4])) < TOLERANCE
    assert console_errors(browser) == []


def test_two_runs_side_by_side_move_together(browser, text_run, tmp_path):
    open_page(browser, _explore(tmp_path, text_run, text_run, "maison"))
    (group,) = _groups(browser)
    assert len(group.find_elements(By.CSS_SELECTOR, ".view")) == 2
    _slide(browser, group, 5)
    assert _current(group, 0) == _current(group, 1) == 5
    assert _shown(group, 0, "h", range(4)) == _shown(group, 1, "h", range(4))


def test_a_tagged_sentence_shows_each_tokens_tag(browser, tagging_run, tmp_path):
    _, task, model = load_run(tagging_run, device="cpu")
    sentence = "The cat sat on the mat ."
    open_page(browser, _explore(tmp_path, tagging_run, sentence))
    assert console_errors(browser) == []
    (group,) = _groups(browser)
    tags = [t.text for t in group.find_elements(By.CSS_SELECTOR, ".tokens .tag")]
    assert tags == task.tag(model, [sentence.split()], torch.device("cpu"))[0]


def test_a_long_input_is_drawn_in_windows(browser, tmp_path):
    open_page(browser, _explore(tmp_path, "--untrained", "--cell", "gru", "abcde" * 200))
    assert console_errors(browser) == []
    (group,) = _groups(browser)
    assert len(group.find_elements(By.CSS_SELECTOR, ".tokens .step")) == 160
    _slide(browser, group, 159)
    assert group.find_element(By.CSS_SELECTOR, ".step-label").text == "995-1000 of 1000"  # steps [994, 1000)


def test_hovering_a_state_strip_shows_the_value_under_the_pointer(browser, text_run, tmp_path):
    _, task, model = load_run(text_run, device="cpu")
    _, traces = text_traces(task, model, "haus")
    open_page(browser, _explore(tmp_path, text_run, "haus"))
    (group,) = _groups(browser)
    strip = group.find_element(By.CSS_SELECTOR, "canvas.strip[data-series='h']")
    width, height = strip.size["width"], strip.size["height"]
    # the middle of column 2 (of 4) and of unit 5 (of 16); offsets are from the element's centre
    ActionChains(browser).move_to_element_with_offset(strip, int(width * 2.5 / 4 - width / 2),
                                                      int(height * 5.5 / 16 - height / 2)).perform()
    name, value = strip.get_attribute("title").split(": ")
    assert name == "h, unit 5, u" and abs(float(value) - float(traces[0].states[0][2, 0, 5])) < TOLERANCE


def test_a_forecast_page_shows_the_history_the_forecast_and_its_bands(browser, forecast_run, tmp_path):
    recent = forecast_run.parent / "recent.csv"
    _, task, model = load_run(forecast_run, device="cpu")
    series, origin = task.next_forecast(task.read_series(task.config, recent, future=True))
    loc, scale, df = task.forecast(model, series, torch.tensor([origin]), torch.device("cpu"))
    (lower, upper) = task.bands(loc, scale, df)[80]
    open_page(browser, _explore(tmp_path, forecast_run, "--data", recent))
    assert console_errors(browser) == []
    (group,) = _groups(browser)
    assert len(group.find_elements(By.CSS_SELECTOR, ".tokens .step")) == 24 + 24  # the history, then the steps ahead
    assert len(group.find_elements(By.CSS_SELECTOR, "svg.forecast polygon.band")) == 2
    assert len(group.find_elements(By.CSS_SELECTOR, "svg.forecast polyline.truth")) == 0  # the file has none
    _slide(browser, group, 24 + 5)
    assert group.find_element(By.CSS_SELECTOR, ".step-label").text == "30 of 48: +6"

    def shown(name):
        return float(group.find_element(By.CSS_SELECTOR, f".prob[data-value='{name}']").text.split()[-1])

    assert abs(shown("median") - float(loc[0, 5])) < TOLERANCE and abs(shown("80%") - float(lower[0, 5])) < TOLERANCE
    batch = task.inputs(series, torch.tensor([origin]), torch.device("cpu"))
    with torch.no_grad():
        _, state = model.encoder(batch["history"])
        _, _, (decoder,) = model.decoder.trace(batch["future"], state)
    expected = decoder.states[0][5, 0].tolist()  # the decoder's state at +6
    assert max(abs(a - b) for a, b in zip(_shown(group, 0, "h", range(16)), expected)) < TOLERANCE

    open_page(browser, _explore(tmp_path, forecast_run, "--max-columns", "12"))  # its last test forecast, in windows
    (group,) = _groups(browser)
    assert len(group.find_elements(By.CSS_SELECTOR, ".tokens .step")) == 12 and console_errors(browser) == []
    assert len(group.find_elements(By.CSS_SELECTOR, "svg.forecast polyline.truth")) == 1  # the truth is known
