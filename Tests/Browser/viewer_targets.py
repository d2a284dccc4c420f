"""Times the viewer against issue 16's targets in headless Chromium (run by
scripts/viewer-targets, on a release build; not part of CI):

- the runs table of 1,000 sessions with 20 parameters and 5 tracks each:
  /api/runs (the first answer on a first start and after a restart, before
  the browser starts; later answers) and the table shown in the browser;
- a run page with 10 charts of 10 M points each: every chart drawn (on the
  step axis, the default, and on the index axis, side by side), then a zoom
  redrawn, and the resident memory of `dreamlake ui` meanwhile;
- beside TensorBoard, on the same 1 M-point scalar: from the server's start
  to the chart shown, for `dreamlake ui` and for `tensorboard`.

- ten runs of ten tracks of 100,000 points compared (issue 31): every chart drawn with
  every run's line, and the bytes the page fetched; and a hundred runs so (the first chart, every chart);

Usage: python viewer_targets.py <dreamlake binary> <root of many runs> <root of one big run> <root of 10 runs to compare> <root of 100 runs to compare>
           [<root of the demo's run of 1 M points> <TensorBoard log of the same> <python with tensorboard>]
Prints one JSON object of seconds and megabytes.
"""
import json
import os
import shutil
import tempfile
import socket
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

dreamlake, many, big, compare, many_runs = sys.argv[1:6]
peer = sys.argv[6:9]
out = {}


def transferred(d, part=""):
    """Bytes the page has fetched (compressed, as sent), of the resources whose URL holds `part`."""
    return d.execute_script("""
        const part = arguments[0];
        const all = performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"));
        return all.filter(e => e.name.includes(part)).reduce((n, e) => n + (e.transferSize || 0), 0);""", part)


# The viewer keeps the runs table's rows between starts in the cache folder: a fresh one for this run, so
# that the first start is a first start.
cache = tempfile.mkdtemp(prefix="viewer-targets-cache-")


def start(root):
    ui = subprocess.Popen([dreamlake, "ui", "--root", root, "--port", "0"], stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, XDG_CACHE_HOME=cache))
    return ui, ui.stdout.readline().split()[2]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):  # the peak resident set
                return int(line.split()[1]) / 1024


def timed_get(url):
    t0 = time.time()
    body = urllib.request.urlopen(url).read()
    return time.time() - t0, body


# /api/runs' first answer after a start, measured before the browser starts (its start keeps both cores busy
# for a while): on a first start (no rows kept), then on the next (the rows the first kept at its end).
for key in ["runs JSON, first answer, first start (s)", "runs JSON, first answer after a restart, rows kept (s)"]:
    ui, url = start(many)
    try:
        out[key] = round(timed_get(url + "api/runs")[0], 3)
    finally:
        ui.terminate()
        ui.wait()

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
# Room for every request of the 100-run comparison in the page's timings (the default keeps 250).
driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "performance.setResourceTimingBufferSize(100000)"})
wait = WebDriverWait(driver, 120, poll_frequency=0.01, ignored_exceptions=[StaleElementReferenceException])
try:
    ui, url = start(many)
    try:
        runs = json.loads(timed_get(url + "api/runs")[1])["runs"]
        later = min(timed_get(url + "api/runs")[0] for _ in range(5))
        out["runs JSON, later answers, best of 5 (s)"] = round(later, 3)
        out["runs"] = len(runs)
        shown = []
        for _ in range(3):
            driver.get("about:blank")
            t0 = time.time()
            driver.get(url)
            # The first page of rows, and the count of them all.
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == min(100, len(runs))
                       and d.find_element(By.ID, "count").text.endswith(f"of {len(runs)} runs"))
            shown.append(time.time() - t0)
        out["runs table shown in Chromium, best of 3 (s)"] = round(min(shown), 3)
        out["dreamlake ui peak resident, many runs (MB)"] = round(rss_mb(ui.pid), 1)
    finally:
        ui.terminate()
        ui.wait()

    ui, url = start(big)
    try:
        run = json.load(urllib.request.urlopen(url + "api/runs"))["runs"][0]
        page = url + "#/run/" + run["workspace"] + "/" + run["session"]
        drawn, by_index, zooms = [], [], []
        for _ in range(3):
            for axis, times in (("", drawn), ("?x=index", by_index)):
                driver.get("about:blank")
                t0 = time.time()
                driver.get(page + axis)
                wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "canvas[data-loaded]")) == len(run["tracks"]))
                times.append(time.time() - t0)
                if not axis:
                    out["x axis of the run page"] = driver.find_element(By.CSS_SELECTOR, "canvas[data-loaded]").get_attribute("data-xmode")
            chart = driver.find_element(By.CSS_SELECTOR, "canvas[data-loaded]")
            loads = int(chart.get_attribute("data-loaded"))
            ActionChains(driver).move_to_element_with_offset(chart, -60, 0).click_and_hold().move_by_offset(8, 0).perform()
            t0 = time.time()
            ActionChains(driver).release().perform()
            wait.until(lambda d: int(chart.get_attribute("data-loaded")) > loads)
            zooms.append(time.time() - t0)
        out["charts"] = len(run["tracks"])
        out["points per chart"] = run["tracks"][0]["count"]
        out["run page, every chart drawn, best of 3 (s)"] = round(min(drawn), 3)
        out["the same on the index axis, best of 3 (s)"] = round(min(by_index), 3)
        out["zoom redrawn, best of 3 (s)"] = round(min(zooms), 3)
        out["dreamlake ui peak resident, big run (MB)"] = round(rss_mb(ui.pid), 1)
    finally:
        ui.terminate()
        ui.wait()

    # Ten runs of ten tracks of 100,000 points compared: every chart drawn with every run's line.
    ui, url = start(compare)
    try:
        runs = json.load(urllib.request.urlopen(url + "api/runs"))["runs"]
        ids = ",".join(r["workspace"] + "/" + r["session"] for r in runs)
        tracks = len(runs[0]["tracks"])
        shown, sent = [], []
        for _ in range(3):
            driver.get("about:blank")
            t0 = time.time()
            driver.get(url + "#/compare?runs=" + ids)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, f"canvas[data-loaded][data-shown='{len(runs)}']")) == tracks)
            shown.append(time.time() - t0)
            sent.append(transferred(driver))
        out["comparison of runs x tracks"] = f"{len(runs)} x {tracks} of {runs[0]['tracks'][0]['count']} points"
        out["comparison, every chart drawn, best of 3 (s)"] = round(min(shown), 3)
        out["comparison, bytes transferred (MB)"] = round(min(sent) / 1e6, 3)
    finally:
        ui.terminate()
        ui.wait()

    # A hundred runs of ten tracks of 100,000 points compared (100 M points): the first chart, and every
    # chart drawn with every run's line (1,000 envelopes), and the bytes the page fetched.
    ui, url = start(many_runs)
    try:
        runs = json.load(urllib.request.urlopen(url + "api/runs"))["runs"]
        ids = ",".join(r["workspace"] + "/" + r["session"] for r in runs)
        tracks = len(runs[0]["tracks"])
        first, every, sent = [], [], []
        for _ in range(2):
            driver.get("about:blank")
            t0 = time.time()
            driver.get(url + "#/compare?runs=" + ids)
            drawn = f"canvas[data-loaded][data-shown='{len(runs)}']"
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, drawn)) >= 1)
            first.append(time.time() - t0)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, drawn)) == tracks)
            every.append(time.time() - t0)
            sent.append(transferred(driver))
        out["comparison of many runs x tracks"] = f"{len(runs)} x {tracks} of {runs[0]['tracks'][0]['count']} points"
        out["many runs compared, first chart drawn, best of 2 (s)"] = round(min(first), 3)
        out["many runs compared, every chart drawn, best of 2 (s)"] = round(min(every), 3)
        out["many runs compared, bytes transferred (MB)"] = round(min(sent) / 1e6, 3)
    finally:
        ui.terminate()
        ui.wait()

    if peer:
        # The same 1 M points, from starting the server to the chart shown.
        demo_root, logdir, tb_python = peer
        t0 = time.time()
        ui, url = start(demo_root)
        try:
            driver.get(url + "#/run/demo/demo-run")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "canvas[data-track='train_loss'][data-loaded]"))
            out["dreamlake ui: start to a 1 M-point chart shown (s)"] = round(time.time() - t0, 3)
            out["dreamlake ui: bytes transferred for the 1 M-point chart's data (KB)"] = round(transferred(driver, "track=train_loss") / 1e3, 1)
            out["dreamlake ui: bytes transferred for the run's page in all (KB)"] = round(transferred(driver) / 1e3, 1)
        finally:
            ui.terminate()
            ui.wait()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        t0 = time.time()
        tb = subprocess.Popen([tb_python, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tb_url = f"http://127.0.0.1:{port}/"
            while True:
                try:
                    urllib.request.urlopen(tb_url)
                    break
                except OSError:
                    time.sleep(0.02)
            # Its scalars load in the background: the page shows them once they are there.
            while "train_loss" not in json.dumps(json.load(urllib.request.urlopen(tb_url + "data/plugin/scalars/tags"))):
                time.sleep(0.02)
            driver.get(tb_url + "#timeseries")
            # The card's table shows the last step once the chart has its data (drawn on a canvas the page cannot read back).
            wait.until(lambda d: "999,999" in d.execute_script("return (document.querySelector('line-chart') || {}).closest ? document.querySelector('line-chart').closest('scalar-card, [class*=card]').innerText : ''")
                       and d.find_elements(By.CSS_SELECTOR, "line-chart canvas"))
            out["TensorBoard: start to a 1 M-point chart shown (s)"] = round(time.time() - t0, 3)
            out["TensorBoard: bytes transferred for the page in all (KB)"] = round(transferred(driver) / 1e3, 1)
            out["TensorBoard: bytes transferred for its scalar data (KB)"] = round(transferred(driver, "data/plugin/timeseries") / 1e3, 1)
            served = json.load(urllib.request.urlopen(tb_url + "data/plugin/scalars/scalars?run=demo&tag=train_loss"))
            out["TensorBoard: points it serves of the 1 M"] = len(served)
        finally:
            tb.terminate()
            tb.wait()
finally:
    driver.quit()
    shutil.rmtree(cache, ignore_errors=True)
print(json.dumps(out))
