#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, if missing: the real clients
# the decoy tests talk to (redis-cli, the MariaDB mysql client, psql, ftp, telnet, swaks,
# smbclient, xfreerdp under Xvfb, impacket for MSSQL, sshpass, OpenSSH's ssh, the docker
# CLI, mosquitto_sub/pub, tftp, dig, sipsak and sipvicious's svmap), nmap for the
# service-detection tests, rsyslog for the syslog sink, promtool for /metrics, and Chromium with
# chromedriver for the console's browser tests. Idempotent; quiet
# when everything is there. Needs root (or sudo) the first time.
set -euo pipefail

needed=()
need() { command -v "$1" >/dev/null 2>&1 || needed+=("$2"); }
need redis-cli redis-tools
need mysql default-mysql-client
need psql postgresql-client
need ftp ftp
need telnet telnet
need swaks swaks
need sshpass sshpass
need ssh openssh-client
need nmap nmap
need snmpwalk snmp
need ldapsearch ldap-utils
need smbclient smbclient
need xfreerdp freerdp2-x11
need xvfb-run xvfb
need xauth xauth
need impacket-secretsdump python3-impacket
need curl curl
# The swarm lab: a test CA and certificates for a node's Engine API over TLS.
need openssl openssl
# The docker_api decoy's client: the docker CLI (Debian ships it in docker.io).
need docker docker.io
need nc netcat-openbsd
# The UDP and IoT decoys' clients: MQTT, TFTP, DNS and SIP.
need mosquitto_sub mosquitto-clients
need tftp tftp-hpa
need dig bind9-dnsutils
need sipsak sipsak
need svmap sipvicious
# The Docker tests: the topology firewall and a route deleted "by hand" in a namespace.
need iptables iptables
need nsenter util-linux
need ip iproute2
# A DMZ on a host interface: the engine's duplicate-address probe (iputils' arping).
need arping iputils-arping
# The console's browser tests: headless Chromium and its WebDriver.
need chromium chromium
need chromedriver chromium-driver
need node nodejs
# The syslog sink's receiver: rsyslog with its TLS driver (GnuTLS).
need rsyslogd rsyslog
compgen -G "/usr/lib/*/rsyslog/lmnsd_gtls.so" >/dev/null || needed+=(rsyslog-gnutls)
# Prometheus's own checker of /metrics.
need promtool prometheus

# The decoy tests' PyPI clients (pymongo, pymodbus) live in a venv: venv support.
python3 -c "import venv, ensurepip" 2>/dev/null || needed+=(python3-venv)

if [[ ${#needed[@]} -gt 0 ]]; then
  echo "[test-deps] installing: ${needed[*]}" >&2
  sudo_cmd=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
bash "$(dirname "$0")/decoy-venv.sh" >/dev/null
