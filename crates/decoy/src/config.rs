//! A service's configuration: the catalogue's keys with their defaults, checked at start.
//!
//! It comes from `--config FILE` (JSON or YAML) on a host, or `DECNET_SERVICE_CONFIG`
//! (JSON) in a container. An unknown key or a value of the wrong type stops the decoy
//! with a clear message rather than being ignored.

use std::path::Path;

use decnet_domain::catalogue::{DefaultValue, Service};
use serde_json::{Map, Value};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a JSON or YAML object.
    #[error("{origin}: not a JSON or YAML object of settings: {detail}")]
    Syntax {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// A key the service does not have.
    #[error("{service}: unknown setting {key:?} (known: {known})")]
    Unknown {
        /// The service.
        service: &'static str,
        /// The key.
        key: String,
        /// The keys it has.
        known: String,
    },
    /// A value of the wrong type.
    #[error("{service}: setting {key:?}: {detail}")]
    Invalid {
        /// The service.
        service: &'static str,
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

/// A checked configuration with every default filled in.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: Map<String, Value>,
}

impl Config {
    /// Reads `path` (JSON or YAML), or `DECNET_SERVICE_CONFIG`, or nothing.
    pub fn load(service: &'static Service, path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
                (Some(text), path.display().to_string())
            }
            None => (
                std::env::var("DECNET_SERVICE_CONFIG").ok().filter(|t| !t.trim().is_empty()),
                "DECNET_SERVICE_CONFIG".to_owned(),
            ),
        };
        let given = match text {
            None => Map::new(),
            Some(text) if text.trim_start().starts_with('{') => serde_json::from_str(&text)
                .map_err(|e| ConfigError::Syntax { origin: origin.clone(), detail: e.to_string() })?,
            Some(text) => serde_saphyr::from_str::<Map<String, Value>>(&text)
                .map_err(|e| ConfigError::Syntax { origin: origin.clone(), detail: e.to_string() })?,
        };
        Self::from_map(service, given)
    }

    /// Checks `given` against the service's keys and fills in defaults.
    pub fn from_map(service: &'static Service, given: Map<String, Value>) -> Result<Self, ConfigError> {
        let mut values = Map::new();
        for (key, value) in given {
            let Some(spec) = service.key(&key) else {
                let known = service.keys.iter().map(|k| k.key).collect::<Vec<_>>().join(", ");
                return Err(ConfigError::Unknown { service: service.name, key, known });
            };
            if !value.is_null() {
                spec.ty.check(&value).map_err(|detail| ConfigError::Invalid {
                    service: service.name,
                    key: key.clone(),
                    detail,
                })?;
                values.insert(key, value);
            }
        }
        for spec in service.keys {
            if !values.contains_key(spec.key) && spec.default != DefaultValue::None {
                values.insert(spec.key.to_owned(), spec.default.to_json());
            }
        }
        Ok(Self { values })
    }

    /// A string setting, if set (or defaulted).
    pub fn string(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// An integer setting, if set (or defaulted).
    pub fn int(&self, key: &str) -> Option<i64> {
        self.values.get(key).and_then(Value::as_i64)
    }

    /// A boolean setting, if set (or defaulted).
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.values.get(key).and_then(Value::as_bool)
    }
}
