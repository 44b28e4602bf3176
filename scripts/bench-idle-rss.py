#!/usr/bin/env python3
"""Idle memory of every catalogue service: one `decnet-decoy serve <service>` process each
(the release static build the decoy image runs), on its real ports on a loopback address of
its own, measured after a settle time: RSS and PSS from /proc/<pid>/smaps_rollup.

    python3 scripts/bench-idle-rss.py [--decoy PATH] [--settle SECONDS]

Prints a Markdown table and writes it to bench-out/idle-rss.md. Every process it starts is
stopped on exit, also on failure.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

SERVICES = [
    "conpot", "dns", "docker_api", "elasticsearch", "ftp", "http", "https", "imap", "k8s", "ldap",
    "llmnr", "mongodb", "mqtt", "mssql", "mysql", "pop3", "postgres", "rdp", "redis", "sip", "smb",
    "smtp", "smtp_relay", "snmp", "ssh", "telnet", "tftp", "vnc",
]


def rollup(pid):
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                fields[m.group(1)] = int(m.group(2))
    return fields.get("Rss", 0) / 1024, fields.get("Pss", 0) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoy", default=None, help="the decnet-decoy binary (default: build the static one)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between start and measurement")
    args = parser.parse_args()
    decoy = args.decoy or subprocess.run(["./scripts/build-decoy.sh"], check=True, capture_output=True, text=True).stdout.strip()
    procs = {}
    try:
        for i, service in enumerate(SERVICES):
            ip = f"127.77.0.{i + 1}"
            env = dict(os.environ, DECNET_TOPOLOGY="bench", DECNET_DECKY=f"decky-{i:02}", DECNET_HOSTNAME=f"host-{i:02}")
            procs[service] = subprocess.Popen(
                [decoy, "serve", service, "--listen", ip, "--reach", "127.0.0.0/8"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for service, proc in procs.items():
            # Wait (bounded) for the first "listening on" line.
            deadline = time.monotonic() + 30
            line = ""
            while "listening on" not in line:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit(f"{service} did not start: {line!r}")
                line = proc.stderr.readline()
        time.sleep(args.settle)
        rows = []
        for service, proc in procs.items():
            rss, pss = rollup(proc.pid)
            rows.append((service, rss, pss))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    lines = ["| service | idle RSS MiB | idle PSS MiB |", "| --- | ---: | ---: |"]
    lines += [f"| {s} | {r:.2f} | {p:.2f} |" for s, r, p in rows]
    rss = [r for _, r, _ in rows]
    lines.append(f"| **all {len(rows)}** | median {statistics.median(rss):.2f}, max {max(rss):.2f} | |")
    table = "\n".join(lines)
    print(table)
    os.makedirs("bench-out", exist_ok=True)
    with open("bench-out/idle-rss.md", "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
