//! What a database decoy answers once a lure's login got in: the handful of statements
//! clients and people run first (the client's own start-up queries, version, user,
//! database and table lists), from a low-privilege account's point of view, so anything
//! that would touch data is denied the way the real server denies it. Nothing is ever
//! executed; the statement is only matched.

/// Which server's words to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MySQL / MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
}

/// Who is asking, and of what server.
#[derive(Debug, Clone)]
pub struct Session {
    /// The dialect.
    pub dialect: Dialect,
    /// The server version string.
    pub version: String,
    /// The logged-in user.
    pub user: String,
    /// The client's address, as the server names it.
    pub client_host: String,
    /// The current database.
    pub database: String,
    /// The server's host name.
    pub hostname: String,
}

/// The answer to one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A result set.
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// Rows of text values.
        rows: Vec<Vec<String>>,
    },
    /// Done, nothing to return (`SET`, `USE`, ...); the tag is PostgreSQL's command tag.
    Done(&'static str),
    /// Refused: the error code (MySQL number or SQLSTATE) and message.
    Error {
        /// MySQL error number (0 for PostgreSQL).
        code: u16,
        /// SQLSTATE.
        state: &'static str,
        /// Message.
        message: String,
    },
}

/// The tables the lure's database seems to hold.
fn tables(database: &str) -> Vec<String> {
    let names: &[&str] = if database == "wordpress" {
        &["wp_commentmeta", "wp_comments", "wp_links", "wp_options", "wp_postmeta", "wp_posts", "wp_users"]
    } else {
        &["audit_log", "customers", "invoices", "orders", "sessions", "users"]
    };
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn one(column: &str, value: impl Into<String>) -> Answer {
    Answer::Rows { columns: vec![column.to_owned()], rows: vec![vec![value.into()]] }
}

fn list(column: &str, values: Vec<String>) -> Answer {
    Answer::Rows { columns: vec![column.to_owned()], rows: values.into_iter().map(|v| vec![v]).collect() }
}

/// The first table named after `FROM`/`INTO`/`UPDATE`/`TABLE`, as the server quotes it.
fn table_of(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let at =
        words.iter().position(|w| matches!(w.to_ascii_lowercase().as_str(), "from" | "into" | "update" | "table"))?;
    let name = words.get(at + 1)?.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    let name = name.rsplit('.').next().unwrap_or(name);
    (!name.is_empty()).then(|| name.chars().take(64).collect())
}

/// Answers `statement` for `session`.
pub fn answer(statement: &str, session: &Session) -> Answer {
    let text = statement.trim().trim_end_matches(';').trim();
    let lower = text.to_ascii_lowercase();
    let squeezed: String = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let mysql = session.dialect == Dialect::Mysql;
    match squeezed.as_str() {
        "" => return Answer::Done("EMPTY"),
        "select @@version_comment limit 1" => {
            let comment =
                if session.version.contains("MariaDB") { "Debian 12" } else { "MySQL Community Server - GPL" };
            return one("@@version_comment", comment);
        }
        "select version()" | "select @@version" => {
            let column = if mysql { text.split_whitespace().nth(1).unwrap_or("version()") } else { "version" };
            let value = if mysql {
                session.version.clone()
            } else {
                format!("PostgreSQL {} on x86_64-pc-linux-gnu, compiled by gcc, 64-bit", session.version)
            };
            return one(column, value);
        }
        "select user()" | "select current_user()" | "select session_user()" => {
            return one(&squeezed[7..], format!("{}@{}", session.user, session.client_host));
        }
        "select current_user" | "select session_user" | "select user" => return one(&squeezed[7..], &session.user),
        "select database()" | "select schema()" => return one(&squeezed[7..], &session.database),
        "select current_database()" => return one("current_database", &session.database),
        "select @@hostname" => return one("@@hostname", &session.hostname),
        "show databases" | "show schemas" => {
            return list("Database", vec!["information_schema".into(), session.database.clone()]);
        }
        "select datname from pg_database" => {
            let mut names =
                vec!["postgres".to_owned(), session.database.clone(), "template0".into(), "template1".into()];
            names.dedup();
            return list("datname", names);
        }
        "show tables" => return list(&format!("Tables_in_{}", session.database), tables(&session.database)),
        "select tablename from pg_tables where schemaname = 'public'" | "select tablename from pg_tables" => {
            return list("tablename", tables(&session.database));
        }
        _ => {}
    }
    if let Some(number) = squeezed.strip_prefix("select ").filter(|n| n.parse::<i64>().is_ok()) {
        return one(if mysql { number } else { "?column?" }, number);
    }
    let verb = lower.split_whitespace().next().unwrap_or("");
    match verb {
        "set" | "use" | "begin" | "commit" | "rollback" | "start" => {
            return Answer::Done(match verb {
                "set" => "SET",
                "begin" | "start" => "BEGIN",
                "commit" => "COMMIT",
                "rollback" => "ROLLBACK",
                _ => "USE",
            });
        }
        _ => {}
    }
    let known = matches!(
        verb,
        "select"
            | "insert"
            | "update"
            | "delete"
            | "drop"
            | "create"
            | "alter"
            | "truncate"
            | "show"
            | "grant"
            | "copy"
    );
    let table = table_of(text).unwrap_or_else(|| session.database.clone());
    match (session.dialect, known) {
        (Dialect::Mysql, true) => Answer::Error {
            code: 1142,
            state: "42000",
            message: format!(
                "{} command denied to user '{}'@'{}' for table '{table}'",
                verb.to_ascii_uppercase(),
                session.user,
                session.client_host
            ),
        },
        (Dialect::Mysql, false) => Answer::Error {
            code: 1064,
            state: "42000",
            message: format!(
                "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server \
                 version for the right syntax to use near '{}' at line 1",
                text.chars().take(40).collect::<String>()
            ),
        },
        (Dialect::Postgres, true) => {
            Answer::Error { code: 0, state: "42501", message: format!("permission denied for table {table}") }
        }
        (Dialect::Postgres, false) => Answer::Error {
            code: 0,
            state: "42601",
            message: format!(
                "syntax error at or near \"{}\"",
                text.split_whitespace().next().unwrap_or("").chars().take(40).collect::<String>()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(dialect: Dialect) -> Session {
        Session {
            dialect,
            version: "8.0.36".into(),
            user: "wordpress".into(),
            client_host: "10.0.0.5".into(),
            database: "wordpress".into(),
            hostname: "db01".into(),
        }
    }

    #[test]
    fn start_up_and_recon_statements_answer_and_data_is_denied() {
        let my = session(Dialect::Mysql);
        assert_eq!(answer("SELECT  user();", &my), one("user()", "wordpress@10.0.0.5"));
        assert_eq!(
            answer("select @@version_comment limit 1", &my),
            one("@@version_comment", "MySQL Community Server - GPL")
        );
        assert!(matches!(answer("show tables", &my), Answer::Rows { rows, .. } if rows.len() == 7));
        assert_eq!(
            answer("select user_pass from wp_users", &my),
            Answer::Error {
                code: 1142,
                state: "42000",
                message: "SELECT command denied to user 'wordpress'@'10.0.0.5' for table 'wp_users'".into()
            }
        );
        assert!(matches!(answer("frobnicate", &my), Answer::Error { code: 1064, .. }));
        assert_eq!(answer("set names utf8mb4", &my), Answer::Done("SET"));
        let pg = session(Dialect::Postgres);
        assert_eq!(answer("select 1", &pg), one("?column?", "1"));
        assert!(
            matches!(answer("select version()", &pg), Answer::Rows { rows, .. } if rows[0][0].starts_with("PostgreSQL 8.0.36"))
        );
        assert!(
            matches!(answer("DROP TABLE users", &pg), Answer::Error { state: "42501", message, .. } if message == "permission denied for table users")
        );
    }
}
