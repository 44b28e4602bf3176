"""Browser tests of the web console: a real `decnet serve` (memory runtime, and Docker for
the live feed of a real decoy) driven by headless Chromium through chromedriver.

Run by scripts/console-test.sh (which installs selenium into a venv and builds decnet):
    DECNET_BIN=target/debug/decnet python -m unittest crates/api/console/test/browser_test.py

Screenshots go to $CONSOLE_SCREENSHOTS (default target/console-screenshots).
Every wait has a deadline; every server, browser and topology is cleaned up.
"""

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid
from datetime import datetime, timezone

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

DECNET = os.environ.get("DECNET_BIN", "target/debug/decnet")
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS", "target/console-screenshots")
WAIT = 20  # seconds, the deadline of every wait in the browser
HOSTILE_USER = "<script>alert('user')</script>"
HOSTILE_SECRET = "<img src=x onerror=alert('secret')>"
HOSTILE_COMMAND = "curl javascript:alert(document.cookie) <img src=x onerror=alert(1)>"


class Server:
    """A `decnet serve` on a free loopback port over a throwaway database."""

    def __init__(self, runtime):
        self.dir = tempfile.TemporaryDirectory(prefix="decnet-console-")
        self.db = os.path.join(self.dir.name, "console.db")
        self.runtime = runtime
        self.password = "console-" + secrets.token_hex(8)
        self.token = None
        self.start("127.0.0.1:0")
        self.token = self.request("POST", "/api/v1/auth/login", {"username": "admin", "password": self.password})["access_token"]

    def start(self, listen):
        """Starts the server on `listen` and waits (bounded) until it says where it listens."""
        self.log = open(os.path.join(self.dir.name, "serve.log"), "w+")
        env = dict(os.environ, DECNET_DB=self.db, DECNET_RUNTIME=self.runtime, DECNET_ADMIN_PASSWORD=self.password, DECNET_LOG="warn")
        self.proc = subprocess.Popen([DECNET, "serve", "--listen", listen], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.base = None
        while time.monotonic() < deadline and self.base is None:
            self.log.seek(0)
            found = re.search(r"http://127\.0\.0\.1:\d+", self.log.read())
            if found:
                self.base = found.group(0)
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.1)
        if self.base is None:
            self.stop()
            raise RuntimeError("decnet serve did not start")

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def halt(self):
        """Stops the process (SIGTERM, then SIGKILL after a minute)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def stop(self):
        self.halt()
        self.dir.cleanup()


def browser(downloads=None):
    options = webdriver.ChromeOptions()
    if downloads:
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000", "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class ConsoleCase(unittest.TestCase):
    runtime = "memory"

    def setUp(self):
        os.makedirs(SHOTS, exist_ok=True)
        self.server = Server(self.runtime)
        self.addCleanup(self.server.stop)
        self.downloads = tempfile.TemporaryDirectory(prefix="decnet-downloads-")
        self.addCleanup(self.downloads.cleanup)
        self.driver = browser(self.downloads.name)
        self.addCleanup(self.driver.quit)
        self.alerts = []

    # -- helpers -------------------------------------------------------------------------

    def wait(self, condition, what, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))
        except TimeoutException:
            # What the page said (toasts, banner) and how it looked, for the failure report.
            self.shot(f"failed-{self.id().rsplit('.', 1)[-1]}.png")
            said = " | ".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".toast, #banner, .error, .loading"))
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; the page said: {said!r}\n{self.diagnosis()}") from None

    def diagnosis(self):
        """Where the browser is, what its console logged and the end of the server's log:
        enough to tell a page that never started (a module that failed to load) from a slow one."""
        try:
            url, state = self.driver.current_url, self.driver.execute_script("return document.readyState")
            console = [f"{e.get('level')}: {e.get('message')}" for e in self.driver.get_log("browser")]
        except Exception as err:  # the browser itself may be what broke
            url, state, console = "?", "?", [f"no browser log: {err}"]
        self.server.log.seek(0)
        served = self.server.log.read()[-3000:]
        return f"url {url} ({state}); browser console: {console[-20:]}; server log tail:\n{served}"

    def find(self, css):
        return self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, css)[0] if d.find_elements(By.CSS_SELECTOR, css) else None, css)

    def text(self, css):
        """The text of the element `css` names now (looked up afresh: views re-render)."""
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def sign_in(self):
        self.driver.get(self.server.base + "/")
        self.find("#login input[name=password]").send_keys(self.server.password)
        self.find("#login button[type=submit]").click()
        self.find("#topology-rows")

    def drag(self, source, target, dx=0, dy=0):
        """Presses on `source`, moves in steps and releases at `target`'s centre + (dx, dy).
        Either may be a CSS selector, looked up afresh if the view redrew it meanwhile."""
        for attempt in range(3):
            try:
                start = self.find(source) if isinstance(source, str) else source
                end = self.find(target) if isinstance(target, str) else target
                chain = ActionChains(self.driver, duration=50)
                chain.move_to_element(start).click_and_hold().move_by_offset(5, 5).move_by_offset(5, 5)
                chain.move_to_element_with_offset(end, dx, dy).release().perform()
                return
            except StaleElementReferenceException:
                if attempt == 2 or not (isinstance(source, str) and isinstance(target, str)):
                    raise

    def canvas_point(self, world_x, world_y):
        """Offset from the canvas's centre of a world point (the view's transform applied)."""
        return self.driver.execute_script(
            "const svg = document.getElementById('canvas');"
            "const m = svg.querySelector('.viewport').getCTM(); const r = svg.getBoundingClientRect();"
            "return [arguments[0] * m.a + m.e - r.width / 2, arguments[1] * m.d + m.f - r.height / 2];",
            world_x, world_y)

    def topology(self, name):
        return self.server.request("GET", f"/api/v1/topologies/{name}")

    def decky(self, name, decky):
        return next(d for d in self.topology(name)["deckies"] if d["name"] == decky)

    def remove_topology(self, name):
        """Tears a topology down (its containers and networks) and deletes it."""
        try:
            self.server.request("POST", f"/api/v1/topologies/{name}/teardown", {})
        except urllib.error.HTTPError as err:
            if err.code != 409:  # 409: not deployed (any more)
                raise
        deadline = time.monotonic() + 120
        while self.topology(name)["topology"]["status"] not in ("torn_down", "pending", "failed"):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was not torn down in time")
            time.sleep(0.2)
        self.server.request("DELETE", f"/api/v1/topologies/{name}")

    def assert_no_script_ran(self):
        """No dialog opened and the browser logged no script error (refused requests, which
        Chromium logs as network errors, are the server's answers, not script)."""
        try:
            alert = self.driver.switch_to.alert
            self.fail(f"a dialog opened: {alert.text}")
        except NoAlertPresentException:
            pass
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
        self.assertEqual(errors, [], "console errors")

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(SHOTS, name))


class DesignAndLiveEdits(ConsoleCase):
    def test_design_deploy_and_edit_live_in_the_browser(self):
        driver = self.driver
        self.sign_in()
        self.assertTrue(driver.execute_script("return !!sessionStorage.getItem('decnet.token')"), "the token is in sessionStorage")
        self.assertEqual(driver.execute_script("return localStorage.length"), 0, "nothing in localStorage")

        # Create a blank topology: the editor opens on it with its DMZ and gateway.
        form = self.find("#create-blank")
        form.find_element(By.NAME, "name").send_keys("canvas")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.find('[data-lan="dmz"]')
        self.find('[data-decky="dmz-gateway"]')

        # A LAN dropped from the palette onto empty canvas, right of the DMZ.
        dmz = self.topology("canvas")["lans"][0]
        ox, oy = self.canvas_point(dmz["x"] + 360, dmz["y"])
        self.drag('.palette-item[data-kind="lan"]', "#canvas", ox, oy)
        self.find('[data-lan="lan-1"]')
        self.find("#fit").click()
        self.assertTrue(any(l["name"] == "lan-1" for l in self.topology("canvas")["lans"]))

        # An archetype dropped on that LAN makes a decky in it.
        slug = self.find('.palette-item[data-kind="archetype"]').get_attribute("data-value")
        self.drag(f'.palette-item[data-kind="archetype"][data-value="{slug}"]', '[data-lan="lan-1"] .lan-box', 0, 20)
        self.find(f'[data-lan="lan-1"] [data-decky="{slug}-1"]')
        self.assertEqual(self.decky("canvas", f"{slug}-1")["home_lan"], "lan-1")

        # A bridge: the gateway's port dragged onto lan-1.
        self.drag('[data-port="dmz-gateway"]', '[data-lan="lan-1"] .lan-box', 0, 40)
        self.find('line.edge[data-decky="dmz-gateway"][data-lan="lan-1"]')
        self.assertIn("lan-1", self.decky("canvas", "dmz-gateway")["decky_config"]["ips_by_lan"])

        # Move the new decky: its x/y are stored, and a reload draws it in the same place.
        before = self.decky("canvas", f"{slug}-1")
        before_version = self.topology("canvas")["topology"]["version"]
        self.drag(f'[data-decky="{slug}-1"] .card', f'[data-decky="{slug}-1"] .card', 70, 45)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and self.decky("canvas", f"{slug}-1")["x"] == before["x"]:
            time.sleep(0.1)
        moved = self.decky("canvas", f"{slug}-1")
        self.assertNotEqual((moved["x"], moved["y"]), (before["x"], before["y"]), "the drop saved the position")
        self.assertEqual(self.topology("canvas")["topology"]["version"], before_version, "a move is not a design change")
        driver.refresh()
        card = self.find(f'[data-decky="{slug}-1"]')
        self.assertEqual(card.get_attribute("transform"), f"translate({moved['x']:g} {moved['y']:g})")
        self.shot("editor.png")

        # A service dropped on a decky is added to it.
        self.drag('.palette-item[data-kind="service"][data-value="http"]', '[data-decky="dmz-gateway"] .card')
        self.wait(lambda d: "http" in self.decky("canvas", "dmz-gateway")["services"], "http added to the gateway")

        # The inspector's configuration form is built from the service's schema and saves.
        self.find('[data-decky="dmz-gateway"] .card').click()
        self.find('#decky-inspector .configure[data-service="ssh"]').click()
        user = self.find('#service-form label[data-key="user"] input')
        self.assertIsNotNone(self.find('#service-form label[data-key="accept_any"] input[type="checkbox"]'))
        user.clear()
        user.send_keys("operator")
        self.find('#service-form button[type="submit"]').click()
        self.wait(lambda d: (self.decky("canvas", "dmz-gateway")["decky_config"].get("service_config") or {}).get("ssh", {}).get("user") == "operator", "the ssh config saved")

        # Two deckies selected (shift-click) and dragged together: one layout write for both.
        self.find('[data-decky="dmz-gateway"] .card').click()
        ActionChains(self.driver).key_down(Keys.SHIFT).click(self.find(f'[data-decky="{slug}-1"] .card')).key_up(Keys.SHIFT).perform()
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".decky.selected")) == 2, "two selected")
        gateway_before = self.decky("canvas", "dmz-gateway")
        self.drag(f'[data-decky="{slug}-1"] .card', f'[data-decky="{slug}-1"] .card', 30, 20)
        self.wait(lambda d: self.decky("canvas", "dmz-gateway")["x"] != gateway_before["x"], "both positions saved")
        saved = self.server.request("GET", "/api/v1/events?topology=canvas&type=topology.layout_saved&limit=1000")["data"]
        self.assertEqual(saved[-1]["payload"], {"lans": 0, "deckies": 2}, "one write for the whole selection")

        # A shift-drag on the background selects what its band touches (here: everything).
        ActionChains(self.driver).send_keys(Keys.ESCAPE).perform()  # clears the selection
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, ".decky.selected"), "nothing selected")
        self.find("#fit").click()
        canvas = self.find("#canvas")
        w, h = canvas.size["width"], canvas.size["height"]
        band = ActionChains(self.driver, duration=50).key_down(Keys.SHIFT).move_to_element_with_offset(canvas, -w // 2 + 5, -h // 2 + 5)
        band.click_and_hold().move_by_offset(w // 2, h // 2).move_by_offset(w // 2 - 10, h // 2 - 10).release().key_up(Keys.SHIFT).perform()
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".decky.selected")) == len(self.topology("canvas")["deckies"]), "every decky selected")
        self.assertIn("selected", self.text("#inspector"))

        # Deploy: the status pill says active.
        deploy = self.find("#deploy")
        deploy.click()
        deploy.click()
        self.wait(lambda d: self.text("#status") == "active", "status active")

        # Two live edits are staged, previewed, applied in order, and both land.
        # (below the DMZ, on empty canvas)
        self.drag('.palette-item[data-kind="lan"]', "#canvas", -250, 180)
        # The second builds on the first: a decky in the staged (not yet existing) LAN.
        self.find('.ghost[data-lan="lan-2"]')
        self.find("#fit").click()  # the view takes in staged LANs too
        self.drag(f'.palette-item[data-kind="archetype"][data-value="{slug}"]', '.ghost[data-lan="lan-2"] .lan-box', 0, 20)
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".staged-edit.state-staged")) == 2, "two staged edits")
        self.find(f'.ghost[data-lan="lan-2"] .ghost[data-decky="{slug}-2"]')  # drawn before they exist
        self.assertFalse(any(l["name"] == "lan-2" for l in self.topology("canvas")["lans"]), "staged, not applied")
        self.find("#preview").click()
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".staged-edit .plan.ok")) == 2, "both previews accepted")
        self.find("#apply").click()
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".staged-edit.state-applied")) == 2, "both applied (over SSE)")
        topology = self.topology("canvas")
        self.assertTrue(any(l["name"] == "lan-2" for l in topology["lans"]))
        self.assertEqual(next(d for d in topology["deckies"] if d["name"] == f"{slug}-2")["home_lan"], "lan-2")
        self.find('[data-lan="lan-2"]:not(.ghost)')

        # An invalid edit (a second DMZ) shows its refusal codes on preview.
        self.find("#discard")
        self.find("#fit").click()
        canvas = self.find("#canvas")
        corner = (-canvas.size["width"] // 2 + 15, canvas.size["height"] // 2 - 15)  # empty after a fit
        self.drag('.palette-item[data-kind="dmz"]', "#canvas", *corner)
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".staged-edit.state-staged")) == 1, "the staged DMZ")
        self.find("#preview").click()
        refused = self.find(".staged-edit.state-staged .plan.refused")
        self.assertRegex(refused.text, r"✗ [A-Z_]{4,}")
        self.shot("live-edits.png")
        self.assert_no_script_ran()

        # The list shows it active with its counts.
        driver.get(self.server.base + "/#/")
        row = self.find('tr[data-name="canvas"]')
        self.wait(lambda d: "…" not in row.find_element(By.CSS_SELECTOR, ".deckies").text, "counts")
        self.assertIn("active", row.text)
        self.shot("list.png")


class ListPage(ConsoleCase):
    def test_generate_export_import_and_delete_from_the_list(self):
        self.sign_in()
        # Generate a maze with its parameters and seed: the editor opens on it.
        form = self.find("#create-generated")
        form.find_element(By.NAME, "name").send_keys("gen")
        for field, value in (("depth", "2"), ("branching_factor", "2"), ("seed", "42")):
            box = form.find_element(By.NAME, field)
            box.clear()
            box.send_keys(value)
        Select(form.find_element(By.NAME, "lures")).select_by_value("rich")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.find("[data-lan]")
        snapshot = self.topology("gen")["topology"]["config_snapshot"]
        self.assertEqual((snapshot["seed"], snapshot["depth"], snapshot["lures"]), (42, 2, "rich"))

        # Export from the list: the document is downloaded.
        self.driver.get(self.server.base + "/#/")
        self.find('tr[data-name="gen"] button.export').click()
        exported = os.path.join(self.downloads.name, "gen.json")
        self.wait(lambda d: os.path.exists(exported) and os.path.getsize(exported) > 0, "the exported file")
        with open(exported) as f:
            document = json.load(f)
        self.assertEqual(document["name"], "gen")

        # Imported as it is, beside the original, it is refused: its subnets are taken.
        self.find("#import-file").send_keys(exported)
        self.find('#import input[name="import-name"]').send_keys("copy")
        self.find("#import button[type=submit]").click()
        refusal = self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".toast.error"), "the refusal")[0]
        self.assertIn("SUBNET_TAKEN", refusal.text)
        self.assertEqual(self.server.request("GET", "/api/v1/topologies")["total"], 1, "nothing was created")
        refusal.click()  # errors stay until dismissed

        # With new subnets and addresses it is created, the same maze elsewhere.
        self.find('#import input[name="fresh-addresses"]').click()
        self.find("#import button[type=submit]").click()
        self.wait(lambda d: self.text("#topology-name") == "copy", "the imported topology's editor")
        original, copy = self.topology("gen"), self.topology("copy")
        self.assertEqual(sorted(d["name"] for d in copy["deckies"]), sorted(d["name"] for d in original["deckies"]))
        self.assertFalse({l["subnet"] for l in copy["lans"]} & {l["subnet"] for l in original["lans"]})
        self.driver.get(self.server.base + "/#/")

        # Delete asks for a second click.
        delete = self.find('tr[data-name="copy"] button.danger')
        delete.click()
        self.assertIn("Confirm", delete.text)
        self.topology("copy")  # still there
        delete.click()
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, 'tr[data-name="copy"]'), "the row to go")
        with self.assertRaises(urllib.error.HTTPError):
            self.topology("copy")
        self.assert_no_script_ran()


class LiveState(ConsoleCase):
    def test_a_lost_stream_shows_a_banner_and_resumes_where_it_left_off(self):
        self.server.request("POST", "/api/v1/topologies", {"name": "resume", "depth": 1, "seed": 4})
        self.server.request("POST", "/api/v1/topologies/resume/deploy", {})
        self.sign_in()
        self.driver.get(self.server.base + "/#/t/resume")
        self.wait(lambda d: self.text("#live") == "LIVE" and self.text("#status") == "active", "live and active")
        self.assertFalse(self.find("#banner").is_displayed())

        self.server.halt()
        self.wait(lambda d: self.text("#live") == "CONNECTING", "the stream to drop")
        banner = self.find("#banner")
        self.assertTrue(banner.is_displayed())
        self.assertIn("Disconnected", banner.text)

        self.server.start(self.server.base.removeprefix("http://"))
        self.wait(lambda d: self.text("#live") == "LIVE", "the stream to come back", timeout=40)
        self.assertFalse(self.find("#banner").is_displayed())
        # What happens after the reconnect arrives: a queued LAN is drawn once applied.
        version = self.topology("resume")["topology"]["version"]
        self.server.request("POST", "/api/v1/topologies/resume/mutations", {"op": "add_lan", "payload": {"name": "resumed"}, "expected_version": version})
        self.find('[data-lan="resumed"]:not(.ghost)')
        self.wait(lambda d: self.text("#version") == f"v{version + 1}", "the new version")
        self.assert_no_script_ran()


def insert_events(db, topology_id, decky, events):
    """Appends decoy events to the server's event log, as the collector stores them."""
    with sqlite3.connect(db, timeout=30) as conn:
        for kind, payload in events:
            at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            conn.execute(
                "INSERT INTO events (at, topology_id, kind, decky, service, source_ip, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, topology_id, kind, decky, payload.get("service", "ssh"), payload["src_ip"], json.dumps(payload)),
            )


class HostileData(ConsoleCase):
    def test_attacker_strings_are_shown_as_text_and_no_script_runs(self):
        self.server.request("POST", "/api/v1/topologies", {"name": "hostile", "depth": 1, "seed": 3, "services_explicit": ["ssh"]})
        self.server.request("POST", "/api/v1/topologies/hostile/deploy", {})
        topology = self.topology("hostile")
        gateway = next(d for d in topology["deckies"] if d["is_gateway"])
        dst = gateway["decky_config"]["ips_by_lan"][gateway["home_lan"]]
        self.sign_in()
        self.driver.get(self.server.base + "/#/t/hostile")
        self.find('[data-lan]')
        self.wait(lambda d: self.text("#live") == "LIVE", "the live stream")
        session = uuid.uuid4().hex[:12]
        base = {"session": session, "src_ip": "10.9.9.9", "src_port": 40000, "dst_ip": dst, "dst_port": 22, "service": "ssh"}
        # Two more hops: the gateway's ssh tunnel to the bridge decky on the DMZ, then the
        # bridge's tunnel to a decky of the inner LAN; each tunnel leaves from an address and
        # port the next session sees as its source (how the engine links hops).
        ips = lambda d: d["decky_config"]["ips_by_lan"]
        bridge = next(d for d in topology["deckies"] if len(ips(d)) > 1 and gateway["home_lan"] in ips(d))
        inner = bridge["home_lan"] if bridge["home_lan"] != gateway["home_lan"] else next(l for l in ips(bridge) if l != gateway["home_lan"])
        target = next(d for d in topology["deckies"] if d["home_lan"] == inner and d["name"] != bridge["name"])
        first_from = (ips(gateway)[gateway["home_lan"]], 41000)
        second_from = (ips(bridge)[inner], 41001)
        tunnel = lambda src, dst: dict(base, event="tunnel", details={"from": f"{src[0]}:{src[1]}", "to": f"{dst}:22"})
        insert_events(self.server.db, topology["topology"]["id"], gateway["name"], [
            ("connect", dict(base, event="connect")),
            ("auth_attempt", dict(base, event="auth_attempt", principal=HOSTILE_USER, secret={"kind": "password", "value": HOSTILE_SECRET}, details={"outcome": "success"})),
            ("command", dict(base, event="command", command=HOSTILE_COMMAND)),
            ("tunnel", tunnel(first_from, ips(bridge)[gateway["home_lan"]])),
        ])
        via_bridge = {"session": uuid.uuid4().hex[:12], "src_ip": first_from[0], "src_port": first_from[1], "dst_ip": ips(bridge)[gateway["home_lan"]], "dst_port": 22, "service": "ssh"}
        insert_events(self.server.db, topology["topology"]["id"], bridge["name"], [
            ("connect", dict(via_bridge, event="connect")),
            ("tunnel", dict(tunnel(second_from, ips(target)[inner]), session=via_bridge["session"])),
        ])
        on_target = {"session": uuid.uuid4().hex[:12], "src_ip": second_from[0], "src_port": second_from[1], "dst_ip": ips(target)[inner], "dst_port": 22, "service": "ssh"}
        insert_events(self.server.db, topology["topology"]["id"], target["name"], [
            ("connect", dict(on_target, event="connect")),
            ("command", dict(on_target, event="command", command="cat /etc/shadow")),
        ])
        # The feed shows them verbatim (the stream picks up other writers within its poll).
        self.wait(lambda d: HOSTILE_COMMAND in self.text("#feed-rows"), "the command in the feed")
        feed = self.find("#feed-rows")
        self.assertIn(HOSTILE_USER, feed.text)
        self.assertIn(HOSTILE_SECRET, feed.text)
        self.assertEqual(feed.find_elements(By.CSS_SELECTOR, "img, script, a"), [], "no element was made of attacker data")
        # The type filter keeps only the matching events.
        self.find('#feed input[data-filter="kind"]').send_keys("auth")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#feed-rows tr")) == 1, "only the auth event")
        self.assertIn(HOSTILE_USER, self.text("#feed-rows"))
        self.find('#feed input[data-filter="kind"]').clear()
        self.find('#feed input[data-filter="kind"]').send_keys("x")  # clear() fires no input event in Chromium
        self.find('#feed input[data-filter="kind"]').send_keys(Keys.BACKSPACE)
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#feed-rows tr")) > 1, "every event again")

        # The attacker's path on the canvas, then its page with credentials and commands.
        self.wait(lambda d: "3 hop(s), depth 2" in self.text("#attackers"), "the attacker with three hops")
        self.find(".show-path").click()
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".paths .hop")) == 3, "three hops drawn")
        self.find(".paths polyline.attacker-path")  # across the LANs, gateway to the inner decky
        self.shot("attacker-path.png")
        self.find('#attackers a[href*="/attackers/"]').click()
        self.wait(lambda d: HOSTILE_COMMAND in self.text("#attacker-path"), "the command on the attacker page")
        path = self.find("#attacker-path")
        self.assertIn(HOSTILE_USER, path.text)
        self.assertEqual(path.find_elements(By.CSS_SELECTOR, "img, script, a"), [])
        self.assert_no_script_ran()

    def test_the_console_is_served_with_a_strict_policy(self):
        with urllib.request.urlopen(self.server.base + "/", timeout=30) as resp:
            policy = resp.headers["content-security-policy"]
            page = resp.read().decode()
        self.assertIn("script-src 'self'", policy)
        self.assertNotIn("unsafe-inline", policy)
        self.assertIn('<script type="module" src="/console/app.js">', page)
        # An inline script injected into the page is refused by that policy.
        self.sign_in()
        ran = self.driver.execute_script(
            "window.__ran = false; const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
            "document.body.append(s); return window.__ran;")
        self.assertFalse(ran, "inline script is blocked by the CSP")


class DockerFeed(ConsoleCase):
    runtime = "docker"

    def test_a_real_decoys_events_appear_in_the_feed(self):
        # Signed in first, as an operator is before deploying: the page loads while the
        # server is idle, and the deploy's image build and container starts follow.
        self.sign_in()
        name = "console-" + secrets.token_hex(3)
        self.server.request("POST", "/api/v1/topologies", {"name": name, "depth": 1, "seed": 5, "gateway": False, "services_explicit": ["http"], "deckies_per_lan_min": 1, "deckies_per_lan_max": 1})
        self.addCleanup(self.remove_topology, name)
        self.server.request("POST", f"/api/v1/topologies/{name}/deploy", {})
        topology = self.topology(name)
        decky = next(d for d in topology["deckies"] if d["home_lan"] == "dmz" or any(l["is_dmz"] and l["name"] == d["home_lan"] for l in topology["lans"]))
        ip = decky["decky_config"]["ips_by_lan"][decky["home_lan"]]
        self.driver.get(self.server.base + f"/#/t/{name}")
        self.wait(lambda d: self.text("#live") == "LIVE", "the live stream")
        # A request to the decky's own address on the network this test's topology made.
        agent = "<script>alert('ua')</script>"
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"http://{ip}/admin", headers={"user-agent": agent})
                urllib.request.urlopen(req, timeout=5).read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.wait(lambda d: decky["name"] in self.text("#feed-rows") and "/admin" in self.text("#feed-rows"), "the decoy's event in the feed", timeout=60)
        self.assertIn(agent, self.text("#feed-rows"))
        self.assert_no_script_ran()


if __name__ == "__main__":
    unittest.main()
