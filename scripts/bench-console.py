"""Benchmark of the web console in headless Chromium (scripts/bench-console.sh runs it).

Against a real `decnet serve` (memory runtime) holding a generated topology of about
1,000 deckies, it measures, several times each:
  - first render: navigation start → the editor's `decnet:first-render` mark (the page,
    its modules, the topology's body, the layout and the SVG, two frames after drawing);
  - drag: a LAN (with its deckies and bridge lines) dragged by synthetic pointer moves, one per animation frame, for 180
    frames; frames per second and the slowest frame;
  - the size of the console's files, raw and gzipped.
Prints a Markdown table and writes it with the raw samples to $OUT/console/.
"""

import gzip
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "api", "console", "test"))
from browser_test import Server, browser  # noqa: E402  (the tests' server and browser)

RUNS = int(os.environ.get("RUNS", "5"))
OUT = os.path.join(os.environ.get("OUT", "bench-out"), "console")
CONSOLE = os.path.join(os.path.dirname(__file__), "..", "crates", "api", "console")

DRAG = """
const done = arguments[arguments.length - 1];
const lan = document.querySelector('[data-lan]:not(.dmz) .lan-box');
const group = lan.parentNode, before = group.getAttribute('transform');
const box = lan.getBoundingClientRect();
const x0 = box.left + 20, y0 = box.top + 10;
lan.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true, clientX: x0, clientY: y0, button: 0, pointerId: 1, isPrimary: true}));
const stamps = [];
let n = 0;
function step(t) {
  stamps.push(t);
  if (n++ >= 180) {
    window.dispatchEvent(new PointerEvent('pointerup', {bubbles: true, clientX: x0 + 2 * n, clientY: y0 + n, pointerId: 1}));
    const gaps = stamps.slice(1).map((s, i) => s - stamps[i]);
    done({fps: 1000 * gaps.length / (stamps.at(-1) - stamps[0]), worst: Math.max(...gaps), moved: group.getAttribute('transform') !== before});
    return;
  }
  window.dispatchEvent(new PointerEvent('pointermove', {bubbles: true, clientX: x0 + 2 * n, clientY: y0 + n, pointerId: 1}));
  requestAnimationFrame(step);
}
requestAnimationFrame(step);
"""


def main():
    os.makedirs(OUT, exist_ok=True)
    server = Server("memory")
    driver = None
    try:
        # 70 LANs of 15 deckies and their bridges: 1,036 deckies.
        server.request("POST", "/api/v1/topologies", {"name": "big", "depth": 4, "branching_factor": 4, "deckies_per_lan_min": 15, "deckies_per_lan_max": 15, "seed": 11})
        big = server.request("GET", "/api/v1/topologies/big")
        deckies, lans = len(big["deckies"]), len(big["lans"])
        driver = browser()
        driver.set_script_timeout(60)
        driver.get(server.base + "/")
        driver.execute_script("sessionStorage.setItem('decnet.token', arguments[0])", server.token)
        renders, drags = [], []
        for _ in range(RUNS):
            driver.get(server.base + "/?run=" + str(time.monotonic()) + "#/t/big")
            deadline = time.monotonic() + 60
            mark = None
            while mark is None and time.monotonic() < deadline:
                mark = driver.execute_script("const m = performance.getEntriesByName('decnet:first-render')[0]; return m ? m.startTime : null;")
                if mark is None:
                    time.sleep(0.05)
            if mark is None:
                raise RuntimeError("the editor never rendered")
            drawn = driver.execute_script("return document.querySelectorAll('g.decky').length")
            if drawn != deckies:
                raise RuntimeError(f"drew {drawn} deckies of {deckies}")
            renders.append(mark)
            drag = driver.execute_async_script(DRAG)
            if not drag["moved"]:
                raise RuntimeError("the drag did not move the LAN")
            drags.append(drag)
        raw = sum(os.path.getsize(os.path.join(CONSOLE, f)) for f in os.listdir(CONSOLE) if os.path.isfile(os.path.join(CONSOLE, f)) and f != "package.json")
        zipped = sum(len(gzip.compress(open(os.path.join(CONSOLE, f), "rb").read())) for f in os.listdir(CONSOLE) if os.path.isfile(os.path.join(CONSOLE, f)) and f != "package.json")
        version = driver.capabilities.get("browserVersion", "?")
    finally:
        if driver:
            driver.quit()
        server.stop()
    fps = [d["fps"] for d in drags]
    worst = [d["worst"] for d in drags]
    table = "\n".join([
        f"Chromium {version} headless, {deckies} deckies in {lans} LANs, {RUNS} runs (median, min–max)",
        "",
        "| measure | result | budget |",
        "| --- | --- | --- |",
        f"| first render of the editor | {statistics.median(renders):.0f} ms ({min(renders):.0f}–{max(renders):.0f}) | ≤ 1000 ms |",
        f"| drag of a LAN, frames per second | {statistics.median(fps):.1f} ({min(fps):.1f}–{max(fps):.1f}) | ≥ 30 |",
        f"| drag, slowest frame | {statistics.median(worst):.1f} ms ({min(worst):.1f}–{max(worst):.1f}) | |",
        f"| console files | {raw / 1024:.1f} KiB raw, {zipped / 1024:.1f} KiB gzipped | ≤ 300 KiB raw |",
    ])
    print(table)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(OUT, "samples.json"), "w") as f:
        json.dump({"first_render_ms": renders, "drags": drags, "assets_raw": raw, "assets_gzip": zipped}, f, indent=1)


if __name__ == "__main__":
    main()
