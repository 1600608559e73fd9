//! `${VAR}` interpolation in config strings. `$${` stands for a literal `${`; any other `$` is kept.
//!
//! Errors name the variable but never contain a value, so they are safe to print even when the string is
//! a secret.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("unterminated ${{ in string, expected a closing }}")]
    Unterminated,
    #[error(
        "invalid environment variable name \"{0}\" in ${{...}} (expected letters, digits and _)"
    )]
    BadName(String),
}

/// Replaces every `${NAME}` in `text` with `env(NAME)`.
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(InterpError::Unterminated)?;
            let name = &tail[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
            if !valid {
                return Err(InterpError::BadName(name.to_string()));
            }
            let value = env(name).ok_or_else(|| InterpError::Unset(name.to_string()))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.example".into()),
            "PASS" => Some("s3cr$t".into()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables() {
        assert_eq!(
            interpolate("postgres://u:${PASS}@${HOST}/shop", &env).unwrap(),
            "postgres://u:s3cr$t@db.example/shop"
        );
        assert_eq!(interpolate("plain", &env).unwrap(), "plain");
        assert_eq!(interpolate("", &env).unwrap(), "");
    }

    #[test]
    fn escapes_and_lone_dollars() {
        assert_eq!(
            interpolate("$${HOST} is ${HOST}", &env).unwrap(),
            "${HOST} is db.example"
        );
        assert_eq!(interpolate("a$b$", &env).unwrap(), "a$b$");
        assert_eq!(interpolate("$$x", &env).unwrap(), "$$x");
        // A substituted value is not interpolated again.
        assert_eq!(interpolate("${PASS}{HOST}", &env).unwrap(), "s3cr$t{HOST}");
    }

    #[test]
    fn errors_name_the_variable_only() {
        assert_eq!(
            interpolate("x${NOPE}y", &env),
            Err(InterpError::Unset("NOPE".into()))
        );
        assert_eq!(
            interpolate("${PASS}${NOPE}", &env).unwrap_err().to_string(),
            "environment variable NOPE is not set"
        );
        assert_eq!(interpolate("${HOST", &env), Err(InterpError::Unterminated));
        assert_eq!(
            interpolate("${}", &env),
            Err(InterpError::BadName(String::new()))
        );
        assert_eq!(
            interpolate("${1X}", &env),
            Err(InterpError::BadName("1X".into()))
        );
        assert_eq!(
            InterpError::Unterminated.to_string(),
            "unterminated ${ in string, expected a closing }"
        );
    }
}
