//! Keeping secrets out of messages: the one place that scrubs a connection URL and its password from
//! whatever a driver says. The store needs it for its own connection errors; the monitor's warehouse
//! connectors use the same function (re-exported as `tidewatch::secret::redact`).

/// Removes the URL and its password (as written and percent-decoded) from a message, in case a driver
/// echoes either.
pub fn redact(message: &str, url: &str) -> String {
    let mut out = message.replace(url, "<url>");
    if let Ok(parsed) = url::Url::parse(url) {
        if let Some(pw) = parsed.password().filter(|p| !p.is_empty()) {
            out = out.replace(pw, "***");
            let decoded = percent_encoding::percent_decode_str(pw).decode_utf8_lossy();
            if !decoded.is_empty() {
                out = out.replace(decoded.as_ref(), "***");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_url_and_password() {
        let url = "postgres://u:p%40ss@h/db";
        let m = redact(
            "failed for postgres://u:p%40ss@h/db with p@ss and p%40ss",
            url,
        );
        assert_eq!(m, "failed for <url> with *** and ***");
    }

    #[test]
    fn removes_raw_and_decoded_password_and_leaves_the_rest() {
        let msg = "auth failed for s3cret%40pw aka s3cret@pw";
        assert_eq!(
            redact(msg, "postgres://u:s3cret%40pw@h/db"),
            "auth failed for *** aka ***"
        );
        assert_eq!(redact(msg, "postgres://u@h/db"), msg);
        assert_eq!(redact(msg, "postgres://u:@h/db"), msg);
        assert_eq!(
            redact("x a@b/c y", "postgres://u:a%40b%2Fc@h/db"),
            "x *** y"
        );
    }
}
