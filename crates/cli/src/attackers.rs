//! `decnet attackers`: who walked the mazes, and `attackers show ID`, one attacker's path
//! drawn as text, hop by hop. Everything an attacker typed is printed escaped (`{:?}`),
//! so no control sequence of theirs reaches the operator's terminal.

use std::process::ExitCode;

use decnet_api::wire::{AttackerDetail, AttackerList, CredentialRow};

use crate::args::{AttackersAction, AttackersArgs};
use crate::backend::Backend;

fn credential(c: &CredentialRow) -> String {
    format!("{:?}:{:?}{}", c.user, c.secret, if c.accepted { " (accepted)" } else { "" })
}

fn table(list: &AttackerList) -> String {
    if list.attackers.is_empty() {
        return "no attackers seen yet\n".into();
    }
    let mut out = format!(
        "{:<18} {:<10} {:<20} {:>5} {:<24} {}\n",
        "ATTACKER", "TOPOLOGY", "LAST SEEN", "DEPTH", "LANS", "DECKIES"
    );
    for a in &list.attackers {
        let topology: String = a.topology_id.to_string().chars().take(8).collect();
        out.push_str(&format!(
            "{:<18} {:<10} {:<20} {:>5} {:<24} {}\n",
            a.id,
            topology,
            a.last_seen.format("%Y-%m-%d %H:%M:%S"),
            a.deepest_hop,
            a.lans.join(","),
            a.deckies.join(",")
        ));
    }
    out
}

/// The path as an indented tree: each hop under the one it came through.
fn path(detail: &AttackerDetail) -> String {
    let s = &detail.summary;
    let mut out = format!(
        "attacker {} in topology {}\nfirst seen {}, last seen {}\nreached {} decky(ies) on LAN(s) {}; deepest hop {}\n",
        s.id,
        s.topology_id,
        s.first_seen.format("%Y-%m-%d %H:%M:%S"),
        s.last_seen.format("%Y-%m-%d %H:%M:%S"),
        s.deckies.len(),
        s.lans.join(", "),
        s.deepest_hop
    );
    if !s.credentials.is_empty() {
        let used: Vec<String> = s.credentials.iter().map(credential).collect();
        out.push_str(&format!("credentials: {}\n", used.join(", ")));
    }
    out.push_str("path:\n");
    for hop in &detail.path {
        let indent = "    ".repeat(hop.depth);
        let arrow = if hop.depth == 0 { "" } else { "└─> " };
        out.push_str(&format!(
            "{indent}{arrow}{} [{}] {} from {} (session {})\n",
            hop.decky,
            hop.lan.as_deref().unwrap_or("?"),
            hop.service,
            hop.source,
            hop.session
        ));
        let pad = format!("{indent}{}", if hop.depth == 0 { "  " } else { "      " });
        for c in &hop.credentials {
            out.push_str(&format!("{pad}login {}\n", credential(c)));
        }
        for command in &hop.commands {
            out.push_str(&format!("{pad}$ {command:?}\n"));
        }
    }
    out
}

/// Runs `decnet attackers`.
pub async fn run(backend: &dyn Backend, args: &AttackersArgs, json: bool) -> anyhow::Result<ExitCode> {
    let topology = args.topology.as_deref();
    match &args.action {
        None => {
            let list = backend.attackers(topology).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", table(&list));
            }
        }
        Some(AttackersAction::Show { id }) => {
            let detail = backend.attacker(id, topology).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print!("{}", path(&detail));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
