//! Secrets named rather than given: a configuration key that holds a secret (`DATABASE_URL`,
//! `JWT_SECRET`, …) may instead be `{KEY}_SECRET_ID`, the ARN or name of a Secrets Manager secret,
//! with `{KEY}_SECRET_JSON_KEY` when the secret is JSON and one field of it holds the value. They
//! are read once, when the process starts: on Lambda that is once per container, so the secret
//! never sits in the function's configuration and each function reads only the ones it is given.

use aao_export_aws::AwsSettings;
use anyhow::{Context, bail};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use secrecy::SecretString;
use std::collections::HashMap;

/// A configuration key whose value is to be read from Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSecret {
    /// The configuration key it fills, as the environment spells it (`JWT_SECRET`).
    pub key: String,
    /// The secret's ARN or name.
    pub id: String,
    /// The field of a JSON secret that holds the value; `None`: the whole text.
    pub json_key: Option<String>,
}

impl NamedSecret {
    /// The `{key}_SECRET_ID` (and `_SECRET_JSON_KEY`) of `env`, when set. Setting the key itself
    /// too is refused: which one wins would be a guess.
    pub fn from_env(key: &str, env: &HashMap<String, String>) -> anyhow::Result<Option<NamedSecret>> {
        let given = |name: &str| env.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(id) = given(&format!("{key}_SECRET_ID")) else {
            if given(&format!("{key}_SECRET_JSON_KEY")).is_some() {
                bail!("{key}_SECRET_JSON_KEY is set without {key}_SECRET_ID (the secret it is a field of)");
            }
            return Ok(None);
        };
        if given(key).is_some() {
            bail!("both {key} and {key}_SECRET_ID are set: give the value, or the secret that holds it, not both");
        }
        Ok(Some(NamedSecret { key: key.to_string(), id, json_key: given(&format!("{key}_SECRET_JSON_KEY")) }))
    }

    /// The value out of the secret's text.
    fn value_of(&self, text: &str) -> anyhow::Result<String> {
        let Some(field) = &self.json_key else {
            // An RDS-managed secret is JSON with the password in it: never taken (or shown) whole.
            if text.trim_start().starts_with('{') {
                bail!(
                    "the secret {} is JSON: set {}_SECRET_JSON_KEY to the field that holds the value",
                    self.id,
                    self.key
                );
            }
            return Ok(text.trim().to_string());
        };
        let json: serde_json::Value =
            serde_json::from_str(text).ok().filter(serde_json::Value::is_object).with_context(|| {
                format!("{}_SECRET_JSON_KEY is {field:?} but the secret {} is not a JSON object", self.key, self.id)
            })?;
        match &json[field.as_str()] {
            serde_json::Value::String(s) => Ok(s.trim().to_string()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            _ => bail!("the secret {} has no text field {field:?} ({}_SECRET_JSON_KEY)", self.id, self.key),
        }
    }
}

/// Reads every named secret from Secrets Manager, in order. An error names the key and the secret,
/// never a value.
pub async fn read(named: &[NamedSecret], aws: &AwsSettings) -> anyhow::Result<Vec<SecretString>> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let client = aws_sdk_secretsmanager::Client::new(&aao_export_aws::sdk_config(aws).await);
    let mut values = Vec::with_capacity(named.len());
    for secret in named {
        let answer = client.get_secret_value().secret_id(&secret.id).send().await.map_err(|e| {
            anyhow::anyhow!(
                "{}_SECRET_ID: the secret {} could not be read from Secrets Manager: {}",
                secret.key,
                secret.id,
                DisplayErrorContext(e)
            )
        })?;
        let Some(text) = answer.secret_string() else {
            bail!("{}_SECRET_ID: the secret {} holds binary data, not text", secret.key, secret.id);
        };
        let value = secret.value_of(text)?;
        if value.is_empty() {
            bail!("{}_SECRET_ID: the secret {} is empty", secret.key, secret.id);
        }
        values.push(value.into());
    }
    tracing::info!(keys = ?named.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), "secrets read from Secrets Manager");
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_key_names_its_secret_or_gives_its_value_not_both() {
        assert_eq!(NamedSecret::from_env("JWT_SECRET", &env(&[("JWT_SECRET", "s")])).unwrap(), None);
        let named = NamedSecret::from_env(
            "DATABASE_URL",
            &env(&[("DATABASE_URL_SECRET_ID", " arn:x "), ("DATABASE_URL_SECRET_JSON_KEY", "url")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((named.id.as_str(), named.json_key.as_deref()), ("arn:x", Some("url")));
        let both = NamedSecret::from_env("JWT_SECRET", &env(&[("JWT_SECRET", "s"), ("JWT_SECRET_SECRET_ID", "x")]));
        assert!(both.unwrap_err().to_string().contains("not both"));
        let orphan = NamedSecret::from_env("JWT_SECRET", &env(&[("JWT_SECRET_SECRET_JSON_KEY", "k")]));
        assert!(orphan.unwrap_err().to_string().contains("without JWT_SECRET_SECRET_ID"));
    }

    #[test]
    fn a_json_secret_gives_one_field() {
        let named = |json_key: Option<&str>| NamedSecret {
            key: "DATABASE_URL".into(),
            id: "db".into(),
            json_key: json_key.map(str::to_string),
        };
        assert_eq!(named(None).value_of(" postgres://u:p@h/db\n").unwrap(), "postgres://u:p@h/db");
        let whole = named(None).value_of(r#"{"password": "hunter2"}"#).unwrap_err().to_string();
        assert!(whole.contains("set DATABASE_URL_SECRET_JSON_KEY") && !whole.contains("hunter2"), "{whole}");
        let text = r#"{"url": "postgres://u:p@h/db", "port": 5432, "username": "u"}"#;
        assert_eq!(named(Some("url")).value_of(text).unwrap(), "postgres://u:p@h/db");
        assert_eq!(named(Some("port")).value_of(text).unwrap(), "5432");
        let missing = named(Some("password")).value_of(text).unwrap_err().to_string();
        assert!(missing.contains("no text field \"password\""), "{missing}");
        let not_json = named(Some("url")).value_of("postgres://u:hunter2@h/db").unwrap_err().to_string();
        assert!(not_json.contains("not a JSON object") && !not_json.contains("hunter2"), "{not_json}");
    }
}
