//! Where and as whom to call GREEN-API: the three values from flags or the environment,
//! checked so that the token can only ever end up in a request's URL.

use crate::term::shown;

/// Where and as whom to call GREEN-API, checked: an `apiUrl` that is a base URL and nothing
/// more, an all-digits idInstance, a hex token.
#[derive(Clone)]
pub struct Credentials {
    api_url: String,
    id_instance: String,
    token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_url", &self.api_url)
            .field("id_instance", &self.id_instance)
            .field("token", &"***")
            .finish()
    }
}

/// How errors name the three values: by flag (and variable), or by a file's column.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub api_url: &'static str,
    pub id_instance: &'static str,
    pub token: &'static str,
}

impl Names {
    /// The flags, and the variables they may come from.
    pub const FLAGS: Names = Names {
        api_url: "--api-url (GREEN_API_URL)",
        id_instance: "--id-instance (GREEN_API_ID_INSTANCE)",
        token: "--api-token-instance (GREEN_API_TOKEN_INSTANCE)",
    };
    /// The columns of an `--instances` file.
    pub const COLUMNS: Names = Names {
        api_url: "apiUrl",
        id_instance: "idInstance",
        token: "apiTokenInstance",
    };
}

impl Credentials {
    /// Checks the three values as given by flags or the environment. Errors name the flag
    /// and its variable, and never repeat a value that may hold the token.
    pub fn new(api_url: &str, id_instance: &str, token: &str) -> Result<Credentials, String> {
        Credentials::named(api_url, id_instance, token, Names::FLAGS)
    }

    /// [`Credentials::new`], errors naming the values as `names` says.
    pub fn named(
        api_url: &str,
        id_instance: &str,
        token: &str,
        names: Names,
    ) -> Result<Credentials, String> {
        let (api_url, id_instance, token) = (api_url.trim(), id_instance.trim(), token.trim());
        let Names {
            api_url: url_name,
            id_instance: id_name,
            token: token_name,
        } = names;
        let example = "it looks like https://7103.api.greenapi.com (the apiUrl the console shows)";
        let url = reqwest::Url::parse(api_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| format!("{url_name} is not a URL; {example}"))?;
        let origin = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{url_name} holds a user name or password; GREEN-API takes none there. Give the \
                 base URL alone, e.g. {origin}"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || url.path().contains("waInstance") {
            return Err(format!(
                "{url_name} must be the apiUrl alone, like {origin}, not a whole method URL \
                 (…/waInstance…/sendContact/…, with a query or a #); the idInstance and the \
                 token go in {id_name} and {token_name}"
            ));
        }
        if id_instance.is_empty() || !id_instance.bytes().all(|b| b.is_ascii_digit()) {
            // A long value may be the token given in the wrong place: never repeated.
            let given = if looks_secret(id_instance) {
                format!(
                    "(a value of {} characters, not shown: it looks like a token — are the \
                     idInstance and the token the other way round?)",
                    id_instance.chars().count()
                )
            } else {
                format!("'{}'", shown(id_instance))
            };
            return Err(format!(
                "{id_name} {given} is not an idInstance; it is all digits, e.g. 7103000001"
            ));
        }
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{token_name} is not an apiTokenInstance: GREEN-API tokens are hexadecimal \
                 digits (0-9, a-f). Copy it again from the GREEN-API console"
            ));
        }
        if url.path_segments().into_iter().flatten().any(looks_secret) {
            return Err(format!(
                "{url_name} holds something that looks like a token in its path; the apiUrl \
                 is the base URL alone, e.g. {origin}, and the token goes in {token_name}"
            ));
        }
        let path = url.path().trim_end_matches('/');
        Ok(Credentials {
            api_url: format!("{origin}{path}"),
            id_instance: id_instance.to_string(),
            token: token.to_string(),
        })
    }

    pub fn id_instance(&self) -> &str {
        &self.id_instance
    }

    /// The base URL, checked to hold nothing secret.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The token, for the request URL and nothing else.
    pub(super) fn token(&self) -> &str {
        &self.token
    }
}

/// Whether a value could be a token: 20 or more hexadecimal digits, a letter among them.
fn looks_secret(value: &str) -> bool {
    value.len() >= 20
        && value.bytes().all(|b| b.is_ascii_hexdigit())
        && value.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_refuse_what_would_leak_or_misroute_the_token() {
        let ok = |url: &str| Credentials::new(url, "1101000001", "abc123").map(|c| c.api_url);
        assert_eq!(
            ok("https://api.green-api.com").unwrap(),
            "https://api.green-api.com"
        );
        assert_eq!(
            ok("http://127.0.0.1:7123/").unwrap(),
            "http://127.0.0.1:7123"
        );
        assert_eq!(
            ok("https://proxy.example/green").unwrap(),
            "https://proxy.example/green"
        );
        for bad in [
            "https://api.green-api.com/waInstance1101000001/sendContact/abc123",
            "https://user:pw@api.green-api.com",
            "https://api.green-api.com/?token=abc",
            "https://api.green-api.com/#x",
            "api.green-api.com",
            "ftp://api.green-api.com",
        ] {
            let err = ok(bad).unwrap_err();
            assert!(!err.contains("abc123") && !err.contains(":pw"), "{err}");
            assert!(err.contains("--api-url"), "{err}");
        }
        let err = Credentials::new("https://a.example", "1", "Sec/r?e#t").unwrap_err();
        assert!(
            err.contains("--api-token-instance") && !err.contains("Sec"),
            "{err}"
        );
        assert!(Credentials::new("https://a.example", "12a", "ab").is_err());
        // The token in the wrong place is never repeated.
        let token = "5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1";
        let swapped = Credentials::new("https://a.example", token, "1101000001").unwrap_err();
        assert!(
            !swapped.contains(token) && swapped.contains("the other way round"),
            "{swapped}"
        );
        let in_path = Credentials::new(&format!("https://a.example/{token}"), "1", "ab");
        let in_path = in_path.unwrap_err();
        assert!(
            !in_path.contains(token) && in_path.contains("looks like a token"),
            "{in_path}"
        );
    }
}
