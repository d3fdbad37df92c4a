//! The `OIDC_*` settings as the binary reads them: `check` finds the provider (a real one on
//! loopback, `oidc-provider`) and whether it accepts the client, and never prints the secret;
//! settings that cannot work are refused at start, naming the one at fault.

use crate::common::Workdir;
use aao_export_testkit::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider};

fn lines(output: &std::process::Output) -> (bool, String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn check_reports_the_provider_discovered_and_the_client_accepted() {
    let Some(provider) = OidcProvider::start("http://127.0.0.1:8080/auth/oidc/callback", None) else { return };
    let work = Workdir::local()
        .with("OIDC_ISSUER_URL", &format!("{}/.well-known/openid-configuration", provider.issuer))
        .with("OIDC_CLIENT_ID", CLIENT_ID)
        .with("OIDC_CLIENT_SECRET", CLIENT_SECRET);
    let stdout = work.ok(&["check"]);
    let expected = format!(
        "OK       identity provider: CILogon at {}: discovered, and its token endpoint accepts client \"aao-export\"; redirect URI http://127.0.0.1:8080/auth/oidc/callback",
        provider.issuer
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(!stdout.contains(CLIENT_SECRET), "the secret never prints: {stdout}");

    let wrong = Workdir::local()
        .with("OIDC_ISSUER_URL", &provider.issuer)
        .with("OIDC_CLIENT_ID", CLIENT_ID)
        .with("OIDC_CLIENT_SECRET", "not-the-secret");
    let (ok, stdout, stderr) = lines(&wrong.run(&["check"]));
    assert!(!ok && stderr.contains("1 problem found"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("PROBLEM  identity provider: {} refused client \"aao-export\"", provider.issuer)),
        "{stdout}"
    );
    assert!(
        stdout.contains("check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET") && !stdout.contains("not-the-secret"),
        "{stdout}"
    );
}

#[test]
fn check_reports_a_provider_that_does_not_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let work = Workdir::local().with("OIDC_ISSUER_URL", &issuer).with("OIDC_CLIENT_ID", CLIENT_ID);
    let (ok, stdout, _) = lines(&work.run(&["check"]));
    assert!(!ok);
    assert!(
        stdout.contains(
            "PROBLEM  identity provider: CILogon did not answer as expected (its discovery document could not be read"
        ),
        "{stdout}"
    );
    let plain = Workdir::local().ok(&["check"]);
    assert!(plain.contains("NOTE     identity provider: OIDC_ISSUER_URL not set: password sign-in only"), "{plain}");
}

#[test]
fn oidc_settings_that_cannot_work_are_refused() {
    for (settings, message) in [
        (&[("OIDC_CLIENT_ID", "x")][..], "OIDC_CLIENT_ID is set but OIDC_ISSUER_URL is not"),
        (&[("OIDC_ISSUER_URL", "https://cilogon.org")][..], "OIDC_ISSUER_URL is set but OIDC_CLIENT_ID is not"),
        (
            &[("OIDC_ISSUER_URL", "https://cilogon.org"), ("OIDC_CLIENT_ID", "x"), ("OIDC_SCOPES", "email profile")][..],
            "OIDC_SCOPES must include openid",
        ),
        (
            &[("OIDC_ISSUER_URL", "https://cilogon.org"), ("OIDC_CLIENT_ID", "x"), ("OIDC_PROVIDER", "local")][..],
            "OIDC_PROVIDER must name the provider",
        ),
    ] {
        let mut work = Workdir::local();
        for (key, value) in settings {
            work = work.with(key, value);
        }
        work.fails(&["check"], message);
    }
    let work = Workdir::local().with("OIDC_ISSUER_URL", "not a url").with("OIDC_CLIENT_ID", "x");
    let (ok, stdout, _) = lines(&work.run(&["check"]));
    assert!(!ok && stdout.contains("PROBLEM  identity provider: OIDC_ISSUER_URL: "), "{stdout}");
}
