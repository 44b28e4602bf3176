#!/usr/bin/env python3
"""The shared peer harness (../shared/bench/peers) extended to the services it does not
know yet, wherever a peer of it serves the protocol: the same targets, loads, namespaces
and report, for pop3, imap, smtp and vnc (banner-first: the client reads the server's
greeting line).

    sudo python3 scripts/bench-peers-more.py --ours 'BIN serve {service} --listen 127.0.0.1:{port}'

Every option of the harness's run.sh is accepted (`--services`, `--peers`, `QUICK=1`...);
`--services` defaults to the added services. Results go where the harness puts them
(`$OUT/peers/results.md`, default ./bench-out/peers); run `../shared/bench/peers/setup.sh`
once first (venvs and the load client).

Peers: qeeqbox honeypots serves all four, OpenCanary vnc; cowrie none. The ceiling is the
harness's own least server for the same exchange: `decoy-loadgen serve ftp` (one greeting
line, then close). Left out: services whose client speaks first in a binary protocol (smb,
rdp, mssql, ldap, mongodb...), which the harness's load client cannot drive, and
elasticsearch, which honeypots serves only over TLS.

This file adds targets and services to the harness through its own tables and classes; it
copies none of it.
"""

import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "peers"
if not (HARNESS / "bench.py").exists():
    sys.exit(f"the shared peer harness is not at {HARNESS}")
sys.path.insert(0, str(HARNESS))

import bench  # noqa: E402  (the harness, found above)

# service: (probe, what counts as the banner, port for the ceiling and ours,
#           the ceiling's loadgen mode, honeypots' name for it, its port there)
ADDED = {
    "pop3": ("none", "line", 14110, "ftp", "pop3", 13110),
    "imap": ("none", "line", 14143, "ftp", "imap", 13143),
    "smtp": ("none", "line", 14025, "ftp", "smtp", 13025),
    "vnc": ("none", "line", 14590, "ftp", "vnc", 13590),
}
OPENCANARY_VNC_PORT = 12590

for service, (probe, expect, own_port, _, _, _) in ADDED.items():
    bench.SERVICES.append(service)
    bench.PROBES[service] = (probe, expect)
    bench.OWN_PORTS[service] = own_port


class Ceiling(bench.Ceiling):
    """The harness's ceiling, serving an added service with the loadgen mode of the
    same exchange."""

    services = list(bench.SERVICES)

    def daemon(self, services, tag, ssh_auth=False):
        if services and services[0] in ADDED and not ssh_auth:
            mode, port = ADDED[services[0]][3], bench.OWN_PORTS[services[0]]
            d = self.fresh_dir(tag)
            argv = [str(bench.LOADGEN), "serve", mode, "--listen", f"127.0.0.1:{port}", "--max-seconds", "900"]
            return bench.Daemon(self.name, services, argv, d, {services[0]: port}, reveal=[bench.LOADGEN])
        return super().daemon(services, tag, ssh_auth)


class Honeypots(bench.Honeypots):
    """qeeqbox honeypots, with its names for the added services."""

    services = bench.Honeypots.services + list(ADDED)
    PORTS = {**bench.Honeypots.PORTS, **{s: spec[5] for s, spec in ADDED.items()}}

    def daemon(self, services, tag):
        added = [s for s in services if s in ADDED]
        if not added:
            return super().daemon(services, tag)
        d = super().daemon([s for s in services if s not in ADDED] or ["ftp"], tag)
        # Rename the setup and the config entries to honeypots' own names and ports.
        setup = ",".join(f"{ADDED[s][4]}:{self.PORTS[s]}" for s in added)
        argv = list(d.argv)
        argv[argv.index("--setup") + 1] = setup
        config = d.cwd / "honeypots.json"
        text = bench.json.loads(config.read_text())
        text["honeypots"] = {
            ADDED[s][4]: {"ip": "127.0.0.1", "port": self.PORTS[s], "log_file_name": f"{s}.jsonl",
                          "max_bytes": 0, "backup_count": 0}
            for s in added
        }
        config.write_text(bench.json.dumps(text, indent=1))
        return bench.Daemon(self.name, added, argv, d.cwd, {s: self.PORTS[s] for s in added},
                            reveal=bench.venv_reveal(bench.VENVS / "honeypots"))


class OpenCanary(bench.OpenCanary):
    """OpenCanary, with its VNC module."""

    services = bench.OpenCanary.services + ["vnc"]
    PORTS = {**bench.OpenCanary.PORTS, "vnc": OPENCANARY_VNC_PORT}


bench.Ceiling = Ceiling
bench.Honeypots = Honeypots
bench.OpenCanary = OpenCanary

if __name__ == "__main__":
    if not any(a == "--services" or a.startswith("--services=") for a in sys.argv[1:]):
        sys.argv[1:1] = ["--services", ",".join(ADDED)]
    sys.exit(bench.main())
