"""Drives `dreamlake ui` in headless Chromium (issue 16, item 8), as a user
would: the runs table loads and filters, a run opens with its charts drawn
(canvas pixels, not only DOM), a zoom fetches more detail, a chart of a run
being written grows by itself, logs filter, two runs compare, a file
downloads with its checksum. Saves screenshots of the runs table, a run and
a comparison, and prints how long each step took in the browser.

Usage: python viewer_test.py <dreamlake binary> <work folder> <screenshot folder> <python with dreamlake 0.2.4>
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import ElementNotInteractableException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.support.ui import Select
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

dreamlake, work, shots, interop_python = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
root = os.path.join(work, "root")
downloads = os.path.join(work, "downloads")
os.makedirs(downloads)
os.makedirs(shots, exist_ok=True)
timings = {}


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


# Three runs: the demo's, one Python dreamlake wrote (imported), and one being written.
run(dreamlake, "demo", "--root", root, "--points", "200000")
python_jsonl = os.path.join(work, "python")
run(interop_python, "-c", f"""
import math
from dreamlake import Session
with Session(name="py-run", workspace="demo", local_path={python_jsonl!r}, tags=["python"], folder="/demos/python") as s:
    s.parameters().set(learning_rate=0.01, batch_size=32, model={{"layers": 8}})
    loss = s.track("train_loss")
    loss.append_batch([{{"value": 2.5 / (1 + i * 0.01), "step": i}} for i in range(5000)])
    s.log("python run", level="info")
    s.track("samples").append_batch([{{"text": f"sample {{i}}", "label": "cat"}} for i in range(30)])
    s.track("signed").append_batch([{{"value": math.sin(i / 50), "step": i}} for i in range(2000)])
    s.track("spiky").append_batch([{{"value": 1000.0 if i == 3000 else 1 + math.sin(i / 300), "step": i}} for i in range(6000)])
""")
run(dreamlake, "import", os.path.join(python_jsonl, "demo", "py-run"), "--root", root)
writer = subprocess.Popen([dreamlake, "bench", "ingest", "--root", root, "--points", "400000000", "--durability", "interval:100"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ui = subprocess.Popen([dreamlake, "ui", "--root", root, "--port", "0"], stdout=subprocess.PIPE, text=True)
driver = None
try:
    line = ui.stdout.readline()
    url = line.split()[2]
    assert url.startswith("http://127.0.0.1:"), line
    deadline = time.time() + 30
    while time.time() < deadline:  # the writer has made its session
        runs = json.load(urllib.request.urlopen(url + "api/runs"))["runs"]
        if any(r["session"] == "ingest" and r["points"] > 0 for r in runs):
            break
        time.sleep(0.2)

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # Polled every 20 ms (timings to 20 ms, not to the default 500); the table's rows are replaced as it redraws,
    # and the filter box is briefly not interactable while the page redraws (a CI run of 3d1e558 met it).
    wait = WebDriverWait(driver, 30, poll_frequency=0.02,
                         ignored_exceptions=[StaleElementReferenceException, ElementNotInteractableException])

    def act(action):
        """Does `action` on elements found anew until none is replaced under it (the table redraws as it filters)."""
        wait.until(lambda d: action() or True)

    def drawn(canvas):
        """How many canvas pixels are not blank: the chart was drawn, not only laid out."""
        return driver.execute_script("""
            const c = arguments[0], d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;""", canvas)

    # The runs table.
    t0 = time.time()
    driver.get(url)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3)
    timings["runs table shown"] = time.time() - t0
    text = driver.find_element(By.ID, "runs").text
    assert "demo/demo-run" in text and "demo/py-run" in text and "bench/ingest" in text, text
    assert "live" in text and "finished" in text, text
    driver.save_screenshot(os.path.join(shots, "runs.png"))

    # The hyperparameter view: parallel coordinates, an axis a numeric parameter and the picked track's last
    # value, a line a run in its colour; a line opens its run.
    axes = [g.get_attribute("data-axis") for g in driver.find_elements(By.CSS_SELECTOR, "#hparams .hp-axis")]
    assert "learning_rate" in axes and "batch_size" in axes and any(a.startswith("last ") for a in axes), axes
    lines = {p.get_attribute("data-run"): p.get_attribute("d") for p in driver.find_elements(By.CSS_SELECTOR, "#hparams .hp-line")}
    assert set(lines) == {"demo/demo-run", "demo/py-run", "bench/ingest"}, lines
    assert lines["demo/py-run"].count("L") >= 1 and lines["demo/demo-run"] != lines["demo/py-run"], lines
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "hparams"))
    driver.save_screenshot(os.path.join(shots, "hparams.png"))
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
                          driver.find_element(By.CSS_SELECTOR, "#hparams .hp-line[data-run='demo/py-run']"))
    wait.until(lambda d: "#/run/demo/py-run" in d.current_url)
    driver.get(url)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3)

    # Filter: a parameter condition, then free text; the URL keeps it.
    act(lambda: driver.find_element(By.ID, "filter").send_keys("learning_rate < 0.005"))  # applied as typed, no Enter
    wait.until(lambda d: [r.get_attribute("data-run") for r in d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")] == ["demo/demo-run"])
    assert "learning_rate" in driver.current_url, driver.current_url
    driver.refresh()
    wait.until(lambda d: [r.get_attribute("data-run") for r in d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")] == ["demo/demo-run"])
    act(lambda: driver.find_element(By.ID, "filter").clear())  # a change: the table redraws
    act(lambda: driver.find_element(By.ID, "filter").send_keys("tag:python", Keys.ENTER))
    wait.until(lambda d: [r.get_attribute("data-run") for r in d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")] == ["demo/py-run"])
    act(lambda: driver.find_element(By.ID, "filter").clear())
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3)

    # A run: its charts drawn, then a zoom that fetches more detail.
    t0 = time.time()
    driver.find_element(By.LINK_TEXT, "demo/demo-run").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "canvas[data-loaded]")) == 3)
    timings["run page charts drawn"] = time.time() - t0
    chart = driver.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss']")
    assert drawn(chart) > 1000, drawn(chart)
    assert chart.get_attribute("data-x1") == "199999", chart.get_attribute("data-x1")
    # Ticks at 1, 2 or 5 times a power of ten, labelled as TensorBoard does (50k, 0.5), never 749999 or 0.6313.
    nice = re.compile(r"^-?(\d{1,3}(\.\d{1,3})?[kMGT]?|\d(\.\d+)?e-\d+)$")
    for axis in ("data-yticks", "data-xticks"):
        labels = json.loads(chart.get_attribute(axis))
        assert len(labels) >= 3 and all(nice.match(t) for t in labels), (axis, labels)
    assert json.loads(chart.get_attribute("data-xticks")) == ["0", "50k", "100k", "150k"], chart.get_attribute("data-xticks")
    assert (chart.get_attribute("data-xtitle"), chart.get_attribute("data-ytitle")) == ("step", "value")
    # Numbers in tables without padding zeros (0.001, not 0.00100000).
    assert "0.001" in [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#parameters td")], driver.find_element(By.ID, "parameters").text
    driver.save_screenshot(os.path.join(shots, "run.png"))

    # The page fetches envelopes in columns; decoded, they are the rows form's buckets exactly (a range, a step x axis).
    for query in ["workspace=demo&session=demo-run&track=train_loss&buckets=500&x=step",
                  "workspace=demo&session=demo-run&track=train_loss&buckets=333&from=1234&to=98765",
                  "workspace=demo&session=py-run&track=signed&buckets=4000"]:
        same = driver.execute_async_script("""
            const done = arguments[1], q = arguments[0];
            Promise.all([fetch("/api/envelope?" + q).then(r => r.json()), fetch("/api/envelope?form=columns&" + q).then(r => r.json())])
              .then(([rows, cols]) => done(JSON.stringify(rows) === JSON.stringify(expandColumns(cols)) ? "same" : JSON.stringify([rows.buckets[0], expandColumns(cols).buckets[0]])));""", query)
        assert same == "same", (query, same)

    # Full screen: the chart fills the window, fetched again at its new width; Esc brings it back.
    loads = int(chart.get_attribute("data-loaded"))
    box_of = chart.find_element(By.XPATH, "..")
    box_of.find_element(By.CSS_SELECTOR, "button.full-screen").click()
    wait.until(lambda d: int(chart.get_attribute("data-width")) > 1200 and int(chart.get_attribute("data-loaded")) > loads)
    assert drawn(chart) > 1000
    driver.save_screenshot(os.path.join(shots, "full-screen.png"))
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait.until(lambda d: chart.get_attribute("data-width") == "560")
    # A card dragged narrower redraws at its width.
    driver.execute_script("arguments[0].style.width = '420px'", box_of)
    wait.until(lambda d: int(chart.get_attribute("data-width")) < 430)
    loads = int(chart.get_attribute("data-loaded"))
    driver.execute_script("arguments[0].style.width = '562px'", box_of)  # its padding and the canvas's margin: 560 wide
    wait.until(lambda d: chart.get_attribute("data-width") == "560" and int(chart.get_attribute("data-loaded")) > loads)

    # Smoothing shows at 0.95 over a dense track (it counts per pixel column): the sine's smoothed line
    # spans clearly less than the raw one's 2; and "ignore outliers" keeps a spike from squashing the rest.
    driver.execute_script("window.open(arguments[0])", url + "#/run/demo/py-run")
    driver.switch_to.window(driver.window_handles[-1])
    sine = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='signed'][data-loaded]"))
    driver.execute_script("const s = arguments[0].parentElement.querySelector('input.smoothing'); s.value = 0.95; s.dispatchEvent(new Event('input'))", sine)
    wait.until(lambda d: sine.get_attribute("data-smoothed-range"))
    assert float(sine.get_attribute("data-smoothed-range")) < 1.5, sine.get_attribute("data-smoothed-range")
    spiky = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='spiky'][data-loaded]"))
    assert json.loads(spiky.get_attribute("data-yticks"))[-1] in ("1k", "1000"), spiky.get_attribute("data-yticks")
    spiky.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "input.outliers").click()
    wait.until(lambda d: float(json.loads(spiky.get_attribute("data-yticks"))[-1].rstrip("k")) < 10)
    driver.close()
    driver.switch_to.window(driver.window_handles[0])

    # Smoothing draws the average over the faint raw line: the pixels change, and back.
    box_of = chart.find_element(By.XPATH, "..")
    slider = box_of.find_element(By.CSS_SELECTOR, "input.smoothing")
    raw = driver.execute_script("return arguments[0].toDataURL()", chart)
    driver.execute_script("arguments[0].value = 0.95; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert driver.execute_script("return arguments[0].toDataURL()", chart) != raw
    driver.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert driver.execute_script("return arguments[0].toDataURL()", chart) == raw
    # A track with several numeric fields: pick another, and the chart is of it.
    loads = int(chart.get_attribute("data-loaded"))
    Select(box_of.find_element(By.CSS_SELECTOR, "select.field")).select_by_visible_text("step")
    wait.until(lambda d: int(chart.get_attribute("data-loaded")) > loads)
    Select(box_of.find_element(By.CSS_SELECTOR, "select.field")).select_by_visible_text("value")
    wait.until(lambda d: int(chart.get_attribute("data-loaded")) > loads + 1)
    loads = int(chart.get_attribute("data-loaded"))
    t0 = time.time()
    ActionChains(driver).move_to_element_with_offset(chart, -100, 0).click_and_hold().move_by_offset(60, 0).release().perform()
    wait.until(lambda d: int(chart.get_attribute("data-loaded")) > loads)
    timings["zoom redrawn"] = time.time() - t0
    x0, x1 = float(chart.get_attribute("data-x0")), float(chart.get_attribute("data-x1"))
    assert 0 < x1 - x0 < 100000, (x0, x1)
    # Zoomed far enough, every point is there: a bucket a point.
    for _ in range(40):
        if x1 - x0 < 300:
            break
        loads = int(chart.get_attribute("data-loaded"))
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(chart), 0, -300).perform()
        wait.until(lambda d: int(chart.get_attribute("data-loaded")) > loads)
        x0, x1 = float(chart.get_attribute("data-x0")), float(chart.get_attribute("data-x1"))
    assert x1 - x0 < 300, (x0, x1)
    assert drawn(chart) > 500

    # The chart's zoom, smoothing and log y are kept in the URL: a reload shows the same chart.
    box_of = chart.find_element(By.XPATH, "..")
    driver.execute_script("arguments[0].value = 0.5; arguments[0].dispatchEvent(new Event('input'))", box_of.find_element(By.CSS_SELECTOR, "input.smoothing"))
    box_of.find_element(By.CSS_SELECTOR, "input.log-y").click()
    assert "zoom.train_loss=" in driver.current_url and "smooth.train_loss=0.5" in driver.current_url, driver.current_url
    view = (chart.get_attribute("data-x0"), chart.get_attribute("data-x1"))
    driver.refresh()
    chart = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    box_of = chart.find_element(By.XPATH, "..")
    assert (chart.get_attribute("data-x0"), chart.get_attribute("data-x1")) == view, ((chart.get_attribute("data-x0"), chart.get_attribute("data-x1")), view)
    assert box_of.find_element(By.CSS_SELECTOR, "input.smoothing").get_attribute("value") == "0.5"
    assert box_of.find_element(By.CSS_SELECTOR, "input.log-y").is_selected()
    chart.click()  # a double click resets the zoom, and the URL forgets it
    ActionChains(driver).double_click(chart).perform()
    wait.until(lambda d: "zoom.train_loss" not in d.current_url)
    box_of.find_element(By.CSS_SELECTOR, "input.log-y").click()
    driver.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'))", box_of.find_element(By.CSS_SELECTOR, "input.smoothing"))
    wait.until(lambda d: "smooth.train_loss" not in d.current_url and "log.train_loss" not in d.current_url)

    # The x axis: the step by default (every track has one), then wall time, kept in the URL.
    assert chart.get_attribute("data-xmode") == "step"
    Select(driver.find_element(By.ID, "x-axis")).select_by_value("time")
    timed = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-xmode='time'][data-loaded]"))
    x0, x1 = float(timed.get_attribute("data-x0")), float(timed.get_attribute("data-x1"))
    assert 1.7e15 < x0 < x1 < 4e15, (x0, x1)  # microseconds since 1970
    assert drawn(timed) > 1000 and "x=time" in driver.current_url

    # Logs: the level filter leaves the warning alone.
    wait.until(lambda d: "Training started" in d.find_element(By.ID, "logs").text)
    Select(driver.find_element(By.ID, "log-level")).select_by_visible_text("warn")
    wait.until(lambda d: "Training started" not in d.find_element(By.ID, "logs").text)
    assert "no real model was trained" in driver.find_element(By.ID, "logs").text

    # A chart downloads as PNG and as CSV: the points it draws, exact, by index.
    def arrived(before):
        """The bytes of the one file the browser finished downloading since `before` (the folder's names then)."""
        # Chromium writes a download under a temporary name (".org.chromium.*", "*.crdownload") and renames it.
        partial = lambda n: n.startswith(".") or n.endswith(".crdownload")
        deadline = time.time() + 20
        while time.time() < deadline:
            names = set(os.listdir(downloads))
            new = [n for n in names - before if not partial(n)]
            if new and not any(partial(n) for n in names):
                path = os.path.join(downloads, new[0])
                try:
                    size = os.path.getsize(path)
                    time.sleep(0.2)
                    if size > 0 and os.path.getsize(path) == size:
                        with open(path, "rb") as f:
                            return new[0], f.read()
                except FileNotFoundError:
                    pass  # renamed meanwhile: look again
            time.sleep(0.1)
        raise AssertionError(f"nothing downloaded: {os.listdir(downloads)}")

    def downloaded(name, click):
        before = set(os.listdir(downloads))
        click()
        got, data = arrived(before)
        assert got == name, (got, name)
        return data
    driver.get(url + "#/run/demo/demo-run")
    loss_chart = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    assert downloaded("train_loss.png", loss_chart.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "button.png").click).startswith(b"\x89PNG")
    lines = downloaded("train_loss.csv", loss_chart.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "button.csv").click).decode().splitlines()
    assert lines[0] == "run,index,step,value" and len(lines) > 1000, lines[:3]
    cells = [line.split(",") for line in lines[1:]]
    assert [int(c[1]) for c in cells] == sorted(int(c[1]) for c in cells) and cells[0][:3] == ["demo-run", "0", "0"], cells[:2]
    # The chart draws values rounded to what it can show (precision=chart); the CSV's are exact, each the stored point's.
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("track=train_loss" in n and "precision=chart" in n for n in fetched), [n for n in fetched if "envelope" in n][:3]
    for c in cells[:: max(1, len(cells) // 20)]:
        p = json.load(urllib.request.urlopen(f"{url}api/points?workspace=demo&session=demo-run&track=train_loss&from={c[1]}&limit=1"))
        assert float(c[3]) == p["points"][0]["data"]["value"], (c, p)

    # A file downloads, and its bytes have the checksum the page shows.
    row = driver.find_element(By.CSS_SELECTOR, "#files tr:nth-child(2)")
    checksum = row.find_elements(By.TAG_NAME, "td")[4].text
    before = set(os.listdir(downloads))
    row.find_element(By.LINK_TEXT, "download").click()
    name, data = arrived(before)
    digest = hashlib.sha256(data).hexdigest()
    assert checksum.endswith(digest), (name, checksum, digest)

    # A run Python wrote: nested parameters as a tree, a track of text points as a table.
    driver.get(url + "#/run/demo/py-run")
    leaf = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#parameters th[data-key='model.layers']"))
    assert leaf.text == "layers" and "model" in driver.find_element(By.ID, "parameters").text
    samples = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".points-table[data-track='samples']"))
    wait.until(lambda d: "sample 29" in samples.text)
    assert "cat" in samples.text
    # Log y cannot draw values at or below zero: their pixel columns are marked in orange and the chart says so.
    signed = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='signed'][data-loaded]"))
    assert signed.get_attribute("data-below-zero") == "0"
    signed.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "input.log-y").click()
    wait.until(lambda d: int(signed.get_attribute("data-below-zero") or 0) > 100)
    note = signed.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, ".log-note").text
    assert "marked in orange" in note, note
    orange = driver.execute_script("""
        const c = arguments[0], d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 0xe6 && d[i + 1] === 0x9f && d[i + 2] === 0x00) n++; return n;""", signed)
    assert orange > 100, orange

    # A live run: its chart grows by itself while the writer flushes.
    driver.get(url + "#/run/bench/ingest")
    live = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-loaded]"))
    first = float(live.get_attribute("data-x1"))
    wait.until(lambda d: float(live.get_attribute("data-x1")) > first)
    assert drawn(live) > 1000

    # Compare: select two runs in the table; one chart a track, a legend, the parameters that differ.
    driver.get(url)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3)
    for run_id in ["demo/demo-run", "demo/py-run"]:
        act(lambda: driver.find_element(By.CSS_SELECTOR, f"input[data-run='{run_id}']").click())
    t0 = time.time()
    driver.find_element(By.ID, "compare").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    timings["comparison drawn"] = time.time() - t0
    compare = driver.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss']")
    assert drawn(compare) > 1000
    legend = compare.find_element(By.XPATH, "..").text
    assert "demo/demo-run" in legend and "demo/py-run" in legend, legend
    # Hover: each run's exact value at the step under the pointer, asked of the server.
    ActionChains(driver).move_to_element_with_offset(compare, -280 + 64, 0).perform()
    info = compare.find_element(By.XPATH, "following-sibling::div[@class='info']")
    wait.until(lambda d: info.get_attribute("data-exact") and info.is_displayed())
    # A tooltip at the pointer (not a line under the chart): a line a run.
    where = driver.execute_script("""
        const i = arguments[0].getBoundingClientRect(), c = arguments[1].getBoundingClientRect();
        return [i.left - c.left, i.top - c.top, c.height];""", info, compare)
    assert 64 < where[0] < 120 and 0 < where[1] < where[2], where
    assert len(info.find_elements(By.CSS_SELECTOR, "div")) == 2, info.text
    m = re.search(r"demo/py-run: step (\d+) value (\S+)", info.text)
    assert m, info.text
    assert float(m.group(2)) == 2.5 / (1 + int(m.group(1)) * 0.01), info.text
    assert re.search(r"demo/demo-run: step \d+ value \S+", info.text), info.text
    diff = driver.find_element(By.ID, "param-diff").text
    assert "learning_rate" in diff and "0.01" in diff and "batch_size" not in diff, diff
    driver.save_screenshot(os.path.join(shots, "compare.png"))

    # Each run has its own colour, and keeps it from page to page: its chip in the run list, its swatch in a
    # chart's legend, and its line on its own page are one colour.
    def chip(run_id):
        return driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor",
                                     driver.find_element(By.CSS_SELECTOR, f"#run-list label[data-run='{run_id}'] .swatch"))
    colors = {r: chip(r) for r in ["demo/demo-run", "demo/py-run"]}
    assert len(set(colors.values())) == 2, colors
    # Twenty runs on a page have twenty colours; past twenty, a run's colour is the palette's by a hash of its
    # name; shown again, in any order, every run has the colour it had.
    many_ids = [f"w/run-{k:02d}" for k in range(25)]
    first = driver.execute_script("return colorsFor(arguments[0])", many_ids)
    assert len({first[i] for i in many_ids[:20]}) == 20, first
    again = driver.execute_script("return colorsFor(arguments[0].slice().reverse())", many_ids)
    assert again == first, (first, again)
    legend_swatch = compare.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, ".legend [data-run='demo/py-run'] .swatch")
    assert driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", legend_swatch) == colors["demo/py-run"]
    # Unticking a run in the list takes its line off every chart; the filter over runs does the same by name.
    shown_before = driver.execute_script("return arguments[0].toDataURL()", compare)
    driver.find_element(By.CSS_SELECTOR, "#run-list input[data-run='demo/py-run']").click()
    wait.until(lambda d: compare.get_attribute("data-shown") == "1")
    assert driver.execute_script("return arguments[0].toDataURL()", compare) != shown_before
    driver.find_element(By.CSS_SELECTOR, "#run-list input[data-run='demo/py-run']").click()
    wait.until(lambda d: compare.get_attribute("data-shown") == "2")
    driver.find_element(By.ID, "run-filter").send_keys("py-")
    wait.until(lambda d: compare.get_attribute("data-shown") == "1")
    assert not driver.find_element(By.CSS_SELECTOR, "#run-list label[data-run='demo/demo-run']").is_displayed()
    driver.find_element(By.ID, "run-filter").clear()
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", driver.find_element(By.ID, "run-filter"))
    wait.until(lambda d: compare.get_attribute("data-shown") == "2")
    # The filter over track names leaves the charts whose name holds it.
    driver.find_element(By.ID, "track-filter").send_keys("loss")
    wait.until(lambda d: [c.get_attribute("data-track") for c in d.find_elements(By.CSS_SELECTOR, "#charts canvas") if c.is_displayed()] == ["train_loss"])
    # Grouped by a parameter both runs share, they are one group of one colour, whose box switches both off;
    # grouped by one they differ in, two groups of two colours. The grouping is kept in the URL.
    Select(driver.find_element(By.ID, "group-by")).select_by_value("batch_size")
    wait.until(lambda d: "group=batch_size" in d.current_url and d.find_elements(By.CSS_SELECTOR, "#run-list .group"))
    groups = driver.find_elements(By.CSS_SELECTOR, "#run-list .group")
    assert len(groups) == 1 and "batch_size = " in groups[0].text and "(2)" in groups[0].text, [g.text for g in groups]
    assert chip("demo/demo-run") == chip("demo/py-run"), (chip("demo/demo-run"), chip("demo/py-run"))
    grouped = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    assert grouped.get_attribute("data-shown") == "2"
    driver.find_element(By.CSS_SELECTOR, "#run-list .group-head input").click()
    wait.until(lambda d: grouped.get_attribute("data-shown") == "0")
    Select(driver.find_element(By.ID, "group-by")).select_by_value("learning_rate")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#run-list .group")) == 2)
    assert chip("demo/demo-run") != chip("demo/py-run")
    driver.refresh()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#run-list .group")) == 2)
    # The run's own page draws its line in the same colour.
    driver.get(url + "#/run/demo/py-run")
    own = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    def pixels(canvas, rgb, within, alpha):
        """Pixels of `canvas` within `within` of `rgb` (summed channel differences) whose alpha is over `alpha`."""
        return driver.execute_script("""
            const c = arguments[0], d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4)
              if (d[i + 3] > arguments[5] && Math.abs(d[i] - arguments[1]) + Math.abs(d[i + 1] - arguments[2]) + Math.abs(d[i + 2] - arguments[3]) < arguments[4]) n++;
            return n;""", canvas, *rgb, within, alpha)

    def near(canvas, color):
        """Pixels of the line drawn near `color` (a CSS rgb(); the line is antialiased: its edges are blends)."""
        return pixels(canvas, [int(v) for v in re.findall(r"\d+", color)[:3]], 90, 200)
    mine, other = near(own, colors["demo/py-run"]), near(own, colors["demo/demo-run"])
    assert mine > 100 and mine > 10 * other, (mine, other, colors)

    # Dark mode follows the system's setting: the page's colours and the charts' grid and labels.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    driver.get(url + "#/run/demo/demo-run")
    dark = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    card = driver.execute_script("return getComputedStyle(arguments[0].parentElement).backgroundColor", dark)
    assert background == "rgb(21, 23, 26)" and card == "rgb(30, 33, 37)", (background, card)
    def about(canvas, rgb):
        return pixels(canvas, rgb, 7, 0)  # a line's antialiased pixels round a little
    dark_grid, light_grid = about(dark, (0x3a, 0x3f, 0x45)), about(dark, (0xcc, 0xcc, 0xcc))
    assert dark_grid > 1000 and light_grid < 50, (dark_grid, light_grid)  # the grid in the dark page's colour
    driver.save_screenshot(os.path.join(shots, "dark.png"))
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    print(json.dumps({k: round(v, 3) for k, v in timings.items()}))
finally:
    if driver:
        driver.quit()
    for p in (ui, writer):
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
