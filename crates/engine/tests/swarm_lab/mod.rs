//! A Docker Swarm of several nodes on this one machine, for the swarm tests: one network
//! namespace per node with a veth into a hub bridge (itself in a namespace of its own),
//! one `dockerd` per node started inside its namespace with its own data, exec root,
//! socket and cgroup parent, joined into a swarm over the veths. Nothing is pulled: the
//! runtime builds the decoy image on every node through its Engine API.
//!
//! Everything is removed when the lab is dropped, also when a test fails: containers,
//! daemons (and their containerd and shims), mounts, namespaces, cgroups, files.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test uses a part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a node's daemon may take to answer, or to stop.
const DAEMON_DEADLINE: Duration = Duration::from_secs(90);

pub struct SwarmLab {
    dir: tempfile::TempDir,
    /// Prefix of every namespace, interface and cgroup this lab makes.
    tag: String,
    daemons: Vec<Option<Child>>,
    node_ids: Vec<String>,
    /// Nodes whose Engine API is reached over TCP with TLS (their label says so).
    tls: Vec<usize>,
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !check() {
        assert!(Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl SwarmLab {
    /// Starts `nodes` daemons and makes node 1 the manager of a swarm the others join.
    /// Every node's `decnet.engine` label names its own socket.
    pub fn up(nodes: usize) -> Self {
        Self::up_with_tls(nodes, &[])
    }

    /// As [`SwarmLab::up`], the nodes in `tls` also serving their Engine API on
    /// `tcp://<node address>:2376` with TLS (a test CA, client certificates required),
    /// which their `decnet.engine` label names; this host reaches the lab's segment
    /// through a veth of its own (10.251.0.1).
    pub fn up_with_tls(nodes: usize, tls: &[usize]) -> Self {
        let tag = format!("dsw{}", std::process::id() % 100_000);
        let mut lab = Self {
            dir: tempfile::tempdir().unwrap(),
            tag,
            daemons: Vec::new(),
            node_ids: Vec::new(),
            tls: tls.to_vec(),
        };
        let hub = lab.hub();
        must("ip", &["netns", "add", &hub]);
        must("ip", &["-n", &hub, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", &hub, "link", "set", "br0", "up"]);
        if !tls.is_empty() {
            lab.make_certificates();
            let host_side = format!("{}h", lab.tag);
            must("ip", &["link", "add", &host_side, "type", "veth", "peer", "name", "up0", "netns", &hub]);
            must("ip", &["-n", &hub, "link", "set", "up0", "master", "br0", "up"]);
            must("ip", &["addr", "add", "10.251.0.1/24", "dev", &host_side]);
            must("ip", &["link", "set", &host_side, "up"]);
        }
        for n in 1..=nodes {
            let (ns, veth) = (lab.netns(n), format!("{}v{n}", lab.tag));
            must("ip", &["netns", "add", &ns]);
            must("ip", &["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            must("ip", &["link", "set", &veth, "netns", &hub]);
            must("ip", &["-n", &hub, "link", "set", &veth, "master", "br0", "up"]);
            must("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            must("ip", &["-n", &ns, "addr", "add", &format!("{}/24", lab.addr(n)), "dev", "eth0"]);
            must("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            lab.daemons.push(Some(lab.start_daemon(n)));
        }
        for n in 1..=nodes {
            wait_until(&format!("node {n}'s dockerd"), DAEMON_DEADLINE, || lab.docker(n, &["info"]).status.success());
        }
        lab.must_docker(1, &["swarm", "init", "--advertise-addr", &lab.addr(1)]);
        let token = lab.must_docker(1, &["swarm", "join-token", "-q", "worker"]);
        for n in 2..=nodes {
            let manager = format!("{}:2377", lab.addr(1));
            lab.must_docker(n, &["swarm", "join", "--token", &token, "--advertise-addr", &lab.addr(n), &manager]);
        }
        for n in 1..=nodes {
            let id = lab.must_docker(n, &["info", "--format", "{{.Swarm.NodeID}}"]);
            let label = format!("decnet.engine={}", lab.engine_api(n));
            lab.must_docker(1, &["node", "update", "--label-add", &label, &id]);
            lab.node_ids.push(id);
        }
        lab
    }

    /// The directory with the client's `ca.pem`, `cert.pem` and `key.pem`.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// The endpoint node `n`'s `decnet.engine` label names.
    pub fn engine_api(&self, n: usize) -> String {
        if self.tls.contains(&n) { format!("tcp://{}:2376", self.addr(n)) } else { self.endpoint(n) }
    }

    /// A CA, a client certificate, and a server certificate per TLS node (for its address).
    /// The client's pair is `cert.pem` and `key.pem`, as `DOCKER_CERT_PATH` has them; node
    /// `n`'s is `node<n>-cert.pem` and `node<n>-key.pem`.
    fn make_certificates(&self) {
        let dir = self.tls_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (ca, ca_key) = (path("ca.pem"), path("ca-key.pem"));
        must(
            "openssl",
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
                .into_iter()
                .chain(["-subj", "/CN=decnet-test-ca", "-keyout", &ca_key, "-out", &ca])
                .collect::<Vec<_>>(),
        );
        let mut pairs = vec![(String::new(), "extendedKeyUsage=clientAuth\n".to_owned())];
        for n in &self.tls {
            let extensions = format!("subjectAltName=IP:{}\nextendedKeyUsage=serverAuth\n", self.addr(*n));
            pairs.push((format!("node{n}-"), extensions));
        }
        for (prefix, extensions) in pairs {
            let [key, csr, cert, ext] =
                ["key.pem", "req.csr", "cert.pem", "ext.cnf"].map(|f| path(&format!("{prefix}{f}")));
            std::fs::write(&ext, extensions).unwrap();
            let subject = format!("/CN=decnet-test-{}", if prefix.is_empty() { "client" } else { &prefix });
            must(
                "openssl",
                &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out", &csr],
            );
            must(
                "openssl",
                &["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial"]
                    .into_iter()
                    .chain(["-days", "2", "-extfile", &ext, "-out", &cert])
                    .collect::<Vec<_>>(),
            );
        }
    }

    fn hub(&self) -> String {
        format!("{}hub", self.tag)
    }

    fn netns(&self, n: usize) -> String {
        format!("{}n{n}", self.tag)
    }

    fn addr(&self, n: usize) -> String {
        format!("10.251.0.{}", 10 + n)
    }

    fn node_dir(&self, n: usize) -> PathBuf {
        self.dir.path().join(n.to_string())
    }

    fn start_daemon(&self, n: usize) -> Child {
        let dir = self.node_dir(n);
        std::fs::create_dir_all(&dir).unwrap();
        // An empty configuration: the machine's /etc/docker/daemon.json (a data root) would clash.
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        // nsenter, not `ip netns exec`, which remounts /sys and hides the cgroup mounts.
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns(n)))
            .arg("/usr/sbin/dockerd")
            .args(["--config-file", &path("daemon.json"), "--data-root", &path("root"), "--exec-root", &path("exec")])
            .args(["-H", &self.endpoint(n), "--pidfile", &path("docker.pid")])
            .args(self.tls_flags(n))
            .args(["--bridge=none", "--storage-driver=overlay2", &format!("--cgroup-parent=/{}n{n}", self.tag)])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// A TLS node's extra listener and its certificates; nothing for the others.
    fn tls_flags(&self, n: usize) -> Vec<String> {
        if !self.tls.contains(&n) {
            return Vec::new();
        }
        let file = |name: &str| self.tls_dir().join(name).to_string_lossy().into_owned();
        vec![
            "-H".into(),
            self.engine_api(n),
            "--tlsverify".into(),
            format!("--tlscacert={}", file("ca.pem")),
            format!("--tlscert={}", file(&format!("node{n}-cert.pem"))),
            format!("--tlskey={}", file(&format!("node{n}-key.pem"))),
        ]
    }

    /// Node `n`'s Engine API endpoint (1-based).
    pub fn endpoint(&self, n: usize) -> String {
        format!("unix://{}", self.node_dir(n).join("docker.sock").display())
    }

    /// Node `n`'s swarm node id.
    pub fn node_id(&self, n: usize) -> &str {
        &self.node_ids[n - 1]
    }

    /// `docker ARGS` against node `n`.
    pub fn docker(&self, n: usize, args: &[&str]) -> Output {
        Command::new("docker").arg("-H").arg(self.endpoint(n)).args(args).output().unwrap()
    }

    pub fn must_docker(&self, n: usize, args: &[&str]) -> String {
        let out = self.docker(n, args);
        assert!(out.status.success(), "docker {args:?} on node {n}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Names of the containers on node `n`.
    pub fn containers(&self, n: usize) -> Vec<String> {
        let names = self.must_docker(n, &["ps", "-a", "--format", "{{.Names}}"]);
        names.lines().map(str::to_owned).collect()
    }

    /// Stops node `n`'s daemon as an operator would (SIGTERM: its containers stop with it)
    /// and waits until it is gone.
    pub fn stop_node(&mut self, n: usize) {
        if let Some(mut daemon) = self.daemons[n - 1].take() {
            let _ = run("kill", &["-TERM", &daemon.id().to_string()]);
            let until = Instant::now() + DAEMON_DEADLINE;
            while daemon.try_wait().ok().flatten().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    fn down(&mut self) {
        for n in 1..=self.daemons.len() {
            if self.daemons[n - 1].is_some() {
                let ids = self.docker(n, &["ps", "-aq"]);
                let ids: Vec<String> =
                    String::from_utf8_lossy(&ids.stdout).split_whitespace().map(str::to_owned).collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids.iter().map(String::as_str));
                    let _ = self.docker(n, &args);
                }
            }
            self.stop_node(n);
        }
        let dir = self.dir.path().to_string_lossy().into_owned();
        // containerd and shims the daemons started, recognisable by their paths in the lab.
        let _ = run("pkill", &["-KILL", "-f", &dir]);
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> =
            mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&dir)).collect();
        ours.sort_unstable_by(|a, b| b.cmp(a));
        for mount in ours {
            let _ = run("umount", &["-l", mount]);
        }
        for n in 1..=self.daemons.len() {
            let _ = run("ip", &["netns", "del", &self.netns(n)]);
            remove_cgroups(&format!("{}n{n}", self.tag));
        }
        // The host's end of the segment goes with its peer, but not until the hub
        // namespace is really freed: removed by name.
        let _ = run("ip", &["link", "del", &format!("{}h", self.tag)]);
        let _ = run("ip", &["netns", "del", &self.hub()]);
    }
}

/// Removes the (empty) cgroup directories named `name` under every hierarchy.
fn remove_cgroups(name: &str) {
    let roots = std::fs::read_dir("/sys/fs/cgroup").map(|d| d.filter_map(Result::ok).map(|e| e.path()));
    let candidates: Vec<PathBuf> = std::iter::once(PathBuf::from("/sys/fs/cgroup").join(name))
        .chain(roots.into_iter().flatten().map(|root| root.join(name)))
        .collect();
    for path in candidates.iter().filter(|p| p.is_dir()) {
        remove_tree_of_dirs(path);
    }
}

/// cgroup directories are removed bottom-up with rmdir (their files cannot be deleted).
fn remove_tree_of_dirs(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree_of_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(path);
}

impl Drop for SwarmLab {
    fn drop(&mut self) {
        self.down();
    }
}
