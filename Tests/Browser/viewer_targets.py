"""Times the viewer against issue 16's targets in headless Chromium (run by
scripts/viewer-targets, on a release build; not part of CI):

- the runs table of 1,000 sessions with 20 parameters and 5 tracks each:
  /api/runs (first and later answers) and the table shown in the browser;
- a run page with 10 charts of 10 M points each: every chart drawn, then a
  zoom redrawn, and the resident memory of `dreamlake ui` meanwhile.

Usage: python viewer_targets.py <dreamlake binary> <root of many runs> <root of one big run>
Prints one JSON object of seconds and megabytes.
"""
import json
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

dreamlake, many, big = sys.argv[1:4]
out = {}


def start(root):
    ui = subprocess.Popen([dreamlake, "ui", "--root", root, "--port", "0"], stdout=subprocess.PIPE, text=True)
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


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 120, poll_frequency=0.01, ignored_exceptions=[StaleElementReferenceException])
try:
    ui, url = start(many)
    try:
        first, body = timed_get(url + "api/runs")
        runs = json.loads(body)["runs"]
        later = min(timed_get(url + "api/runs")[0] for _ in range(5))
        out["runs JSON, first answer (s)"] = round(first, 3)
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
        drawn, zooms = [], []
        for _ in range(3):
            driver.get("about:blank")
            t0 = time.time()
            driver.get(page)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "canvas[data-loaded]")) == len(run["tracks"]))
            drawn.append(time.time() - t0)
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
        out["zoom redrawn, best of 3 (s)"] = round(min(zooms), 3)
        out["dreamlake ui peak resident, big run (MB)"] = round(rss_mb(ui.pid), 1)
    finally:
        ui.terminate()
        ui.wait()
finally:
    driver.quit()
print(json.dumps(out))
