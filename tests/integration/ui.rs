//! `greenbulk ui` in a real browser: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver, from the chromium-driver package that `.ci/run` installs), against
//! the built-in sandbox. A person's path with the defaults, by accessible names only:
//! `Spreadsheet` → `Check` → the `Problems` table → `Send` → `Download results`.
//!
//! Without chromedriver the test says so and passes, on a developer's machine only: on CI
//! (`CI` set) a missing browser is a failure. With `GREENBULK_SCREENSHOTS=DIR` it saves a
//! screenshot of each step there (docs/ui-*.png come from it).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::util::{Killed, Workdir, wait_until};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Saves a screenshot of the page as `DIR/ui-NAME.png` when `GREENBULK_SCREENSHOTS=DIR`.
async fn screenshot(client: &Client, name: &str) {
    let Some(dir) = std::env::var_os("GREENBULK_SCREENSHOTS") else {
        return;
    };
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(PathBuf::from(dir).join(format!("ui-{name}.png")), png).unwrap();
}

fn by_name(tag: &str, name: &str) -> String {
    format!("//{tag}[normalize-space()='{name}']")
}

/// Presses the button of this accessible name.
async fn press(client: &Client, name: &str) {
    client
        .find(Locator::XPath(&by_name("button", name)))
        .await
        .unwrap_or_else(|e| panic!("no button {name}: {e}"))
        .click()
        .await
        .unwrap();
}

#[test]
fn from_a_spreadsheet_to_its_results_in_a_real_browser() {
    if !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMEDRIVER} is missing: .ci/run installs Debian's chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED from_a_spreadsheet_to_its_results_in_a_real_browser: no {CHROMEDRIVER} \
             (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let dir = Workdir::new();
    std::fs::create_dir_all(dir.path("files")).unwrap();
    // Opened as a person's double-click opens it: the browser is handed the page
    // `greenbulk-ui-PORT.html` (here the "browser" only says yes, and Chromium below opens
    // that page).
    let mut ui = dir
        .command(&["ui", "--port", "0", "--sandbox", "--dir", "files"])
        .env("BROWSER", "true")
        .env("DISPLAY", ":0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut address = String::new();
    BufReader::new(ui.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let _ui = Killed(ui);
    let address = address.trim().to_string();
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    let origin = address.split("/?").next().unwrap().to_string();
    let ui_port = origin.rsplit(':').next().unwrap();
    let opening = dir.path(&format!("files/greenbulk-ui-{ui_port}.html"));
    wait_until(Duration::from_secs(20), "the opening page", || {
        opening.exists()
    });

    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _driver = Killed(driver);
    wait_until(Duration::from_secs(20), "chromedriver to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let profile = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/contacts.csv");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let downloaded = runtime.block_on(async {
        let mut capabilities = fantoccini::wd::Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");

        // From a file:// page, Chromium sends no SameSite=Strict cookie along a redirect:
        // the page must still open, and stay open on a reload.
        client
            .goto(&format!("file://{}", opening.display()))
            .await
            .unwrap();
        let upload = "//label[normalize-space()='Spreadsheet']";
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::XPath(upload))
            .await
            .expect("the upload page, from the opening page");
        assert!(!opening.exists(), "the opening page has done its work");
        assert_eq!(client.current_url().await.unwrap().path(), "/");
        client.refresh().await.unwrap();
        client
            .find(Locator::XPath(upload))
            .await
            .expect("the upload page, reloaded");
        screenshot(&client, "1-upload").await;
        let file = client
            .find(Locator::XPath(
                "//input[@id=(//label[normalize-space()='Spreadsheet']/@for)]",
            ))
            .await
            .expect("the file input labelled Spreadsheet");
        file.send_keys(&input.to_string_lossy()).await.unwrap();
        press(&client, "Check").await;
        // The Columns step shows first when the headers do not say which column is which.
        // The next page's heading, not the upload page's (still there while it navigates).
        let heading = client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::XPath(
                "//h1[not(starts-with(normalize-space(.), 'Send a contact card'))]",
            ))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if heading.starts_with("Which column") {
            screenshot(&client, "2-columns").await;
            press(&client, "Check").await;
        }
        let problems = client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::XPath(
                "//table[caption[normalize-space()='Problems']]",
            ))
            .await
            .expect("the Problems table");
        screenshot(&client, "3-check").await;
        let mut rows = Vec::new();
        for row in problems
            .find_all(Locator::XPath("./tbody/tr/th"))
            .await
            .unwrap()
        {
            rows.push(row.text().await.unwrap());
        }
        assert_eq!(rows, ["5", "6"], "the two bad rows, by spreadsheet number");

        press(&client, "Send").await;
        client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("[role=status][aria-live=polite]"))
            .await
            .expect("progress in a live region");
        screenshot(&client, "4-send").await;
        let link = client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::XPath(&by_name("a", "Download results")))
            .await
            .expect("Download results once the run ends");
        screenshot(&client, "5-results").await;
        let href = link.attr("href").await.unwrap().expect("a link");
        // The session cookie is named for the page's port (a browser sends 127.0.0.1's
        // cookies to every port there).
        let page_port = origin.rsplit(':').next().unwrap();
        let cookie = client
            .get_named_cookie(&format!("greenbulk-session-{page_port}"))
            .await
            .unwrap();
        if std::env::var_os("GREENBULK_SCREENSHOTS").is_some() {
            // The Columns step, for the docs: the same file's columns, changeable.
            let columns = href.replace("/results.xlsx", "/columns");
            client.goto(&format!("{origin}{columns}")).await.unwrap();
            screenshot(&client, "2-columns").await;
        }
        client.close().await.unwrap();

        let answer = reqwest::Client::new()
            .get(format!("{origin}{href}"))
            .header("Cookie", format!("{}={}", cookie.name(), cookie.value()))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.bytes().await.unwrap().to_vec()
    });

    let path = dir.path("downloaded.xlsx");
    std::fs::write(&path, downloaded).unwrap();
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut workbook, "Results").unwrap();
    let statuses: Vec<String> = sheet.rows().skip(1).map(|row| row[1].to_string()).collect();
    assert_eq!(statuses.len(), 10, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "sent").count(),
        7,
        "{statuses:?}"
    );
}
