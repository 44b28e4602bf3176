#!/usr/bin/env bash
# Tunnels and hops through our ssh decoy, side by side with Debian's OpenSSH server doing
# the same forwarding on the same machine, all on loopback:
#   - a request through an open `ssh -L` forward vs straight to the target (what a hop adds);
#   - bytes/s of one stream through one `ssh -L` forward;
#   - a login through `ssh -J` vs a direct login.
# Installs openssh-server if missing (root), builds the decoy in release mode, starts
# everything on 127.77.0.x and stops it on exit. Results: ./bench-out/tunnel/results.md.
# Usage: scripts/bench-tunnel.sh   (QUICK=1 for a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-./bench-out}/tunnel"
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v /usr/sbin/sshd >/dev/null; then
  echo "[bench-tunnel] installing openssh-server" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
bash scripts/test-deps.sh
cargo build --release -q -p decnet-decoy
decoy="$PWD/target/release/decnet-decoy"

# The target web decoy, our gate, and the far ssh decoy for the login test.
"$decoy" serve http --listen 127.77.0.2:8080 --reach none >/dev/null 2>&1 & pids+=($!)
"$decoy" serve ssh --listen 127.77.0.3:2222 --reach 127.77.0.0/24 --max-per-source 512 >/dev/null 2>&1 & pids+=($!)
"$decoy" serve ssh --listen 127.77.0.6:2224 --reach none --max-per-source 512 >/dev/null 2>&1 & pids+=($!)

# OpenSSH on 127.77.0.4:2223, root by key only, its own host key and config.
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cat > "$work/sshd_config" <<EOF
ListenAddress 127.77.0.4:2223
HostKey $work/host_key
PermitRootLogin prohibit-password
AuthorizedKeysFile $work/client_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
PidFile $work/sshd.pid
StrictModes no
MaxStartups 100:30:200
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" & pids+=($!)

cat > "$work/askpass" <<'EOF'
#!/bin/sh
echo admin
EOF
chmod 755 "$work/askpass"
cat > "$work/ssh_config" <<EOF
Host *
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ConnectTimeout 10
Host 127.77.0.4
  IdentityFile $work/client_key
  PreferredAuthentications publickey
Host 127.77.0.3 127.77.0.6
  PreferredAuthentications password
EOF

WORK="$work" OUT_DIR="$out" QUICK="${QUICK:-}" python3 - <<'PY'
import os, socket, statistics, subprocess, threading, time

work, out, quick = os.environ["WORK"], os.environ["OUT_DIR"], bool(os.environ.get("QUICK"))
env = dict(os.environ, SSH_ASKPASS=f"{work}/askpass", SSH_ASKPASS_REQUIRE="force")
ssh = ["ssh", "-F", f"{work}/ssh_config"]
gates = {"ours (decnet-decoy ssh)": ("127.77.0.3", 2222), "OpenSSH (Debian sshd)": ("127.77.0.4", 2223)}

def wait_port(host, port, deadline=20.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{host}:{port} never listened")

for host, port in [("127.77.0.2", 8080), ("127.77.0.3", 2222), ("127.77.0.4", 2223), ("127.77.0.6", 2224)]:
    wait_port(host, port)

# A sink that counts what it receives, for the throughput run.
received = {"n": 0}
done = threading.Event()
sink = socket.socket(); sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sink.bind(("127.77.0.5", 9000)); sink.listen(16)
def serve_sink():
    # The readiness probe of each forward reaches the sink too, carrying nothing: only a
    # connection that carried bytes ends a run.
    while True:
        conn, _ = sink.accept()
        got = 0
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            got += len(data)
        conn.close()
        if got:
            received["n"] = got
            done.set()
threading.Thread(target=serve_sink, daemon=True).start()

def forward(gate, local_port, target):
    host, port = gate
    cmd = ssh + ["-N", "-p", str(port), "-L", f"127.0.0.1:{local_port}:{target}", f"root@{host}"]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    wait_port("127.0.0.1", local_port)
    return proc

def request(host, port):
    start = time.perf_counter()
    with socket.create_connection((host, port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    return (time.perf_counter() - start) * 1000

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]

n = 50 if quick else 300
# Under our per-tunnel cap (64 MiB, both ways together): each run is one tunnel.
size = (16 if quick else 48) << 20
runs = 1 if quick else 5
logins = 5 if quick else 20
rows, raw = [], []
direct = [request("127.77.0.2", 8080) for _ in range(n)]
raw.append(f"direct request          n={n} p50={statistics.median(direct):.3f}ms p95={pct(direct, .95):.3f}ms")
for index, (label, gate) in enumerate(gates.items()):
    proc = forward(gate, 18080 + index, "127.77.0.2:8080")
    via = [request("127.0.0.1", 18080 + index) for _ in range(n)]
    proc.terminate(); proc.wait()
    rates = []
    for run in range(runs):
        proc = forward(gate, 19000 + 10 * index + run, "127.77.0.5:9000")
        received["n"] = 0; done.clear()
        chunk = b"\0" * (1 << 20)
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", 19000 + 10 * index + run)) as s:
            for _ in range(size >> 20):
                s.sendall(chunk)
        done.wait(120)
        seconds = time.perf_counter() - start
        proc.terminate(); proc.wait()
        if received["n"] != size:
            raise SystemExit(f"{label}: the sink got {received['n']} of {size} bytes")
        rates.append(received["n"] / seconds / (1 << 20))
    mib_s = statistics.median(rates)
    host, port = gate
    times = []
    for _ in range(logins):
        start = time.perf_counter()
        subprocess.run(ssh + ["-J", f"root@{host}:{port}", "-p", "2224", "root@127.77.0.6", "true"], env=env, check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    rows.append((label, statistics.median(via), statistics.median(via) - statistics.median(direct), mib_s, size, statistics.median(times)))
    raw.append(f"{label:<24} via -L n={n} p50={statistics.median(via):.3f}ms p95={pct(via, .95):.3f}ms; "
               f"stream {size >> 20} MiB x{runs}: " + ", ".join(f"{r:.0f}" for r in rates) + f" MiB/s (median {mib_s:.1f}); "
               f"-J login p50 {statistics.median(times):.1f}ms")
direct_login = []
for _ in range(logins):
    start = time.perf_counter()
    subprocess.run(ssh + ["-p", "2224", "root@127.77.0.6", "true"], env=env, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    direct_login.append((time.perf_counter() - start) * 1000)
raw.append(f"direct login to the far decoy p50 {statistics.median(direct_login):.1f}ms")
machine = f"{os.uname().nodename} {os.cpu_count()} cpu, load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"
lines = [f"# Tunnel benchmark\n\nmachine: {machine}\n", "| gate | request via -L p50 (ms) | added vs direct p50 (ms) | stream MiB/s (median) | bytes per run | -J login p50 (ms) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
for label, via, added, mib, nbytes, login in rows:
    lines.append(f"| {label} | {via:.3f} | {added:.3f} | {mib:.1f} | {nbytes} | {login:.1f} |")
lines.append(f"\ndirect request p50 {statistics.median(direct):.3f} ms; direct login p50 {statistics.median(direct_login):.1f} ms\n\n```\n" + "\n".join(raw) + "\n```\n")
open(f"{out}/results.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
