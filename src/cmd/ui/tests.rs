//! The page's handlers in-process (no socket): the secret, the host, the CSRF token, upload
//! limits and names, and the HTML asserted by parsing it, as a browser and a screen reader
//! see it. The whole flow in a real browser is the integration test `ui`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use scraper::{Html, Selector};
use tower::ServiceExt;

use super::*;

const PORT: u16 = 7777;

struct Page {
    app: Arc<App>,
    router: Router,
    _dir: tempfile::TempDir,
}

fn page() -> Page {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(
        PORT,
        dir.path().to_path_buf(),
        dir.path().join("state"),
        true,
        Some(Target::Sandbox { instances: 1 }),
    );
    app.upload_limit = 64 << 10;
    let app = Arc::new(app);
    Page {
        router: router(app.clone()),
        app,
        _dir: dir,
    }
}

impl Page {
    fn cookie(&self) -> String {
        format!("{}={}", guard::COOKIE, self.app.secret)
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let answer = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = answer.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn get(&self, path: &str) -> Request<Body> {
        Request::get(path)
            .header(header::HOST, format!("127.0.0.1:{PORT}"))
            .header(header::COOKIE, self.cookie())
            .body(Body::empty())
            .unwrap()
    }

    fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Request<Body> {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect();
        Request::post(path)
            .header(header::HOST, format!("localhost:{PORT}"))
            .header(header::COOKIE, self.cookie())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.join("&")))
            .unwrap()
    }

    fn upload(&self, name: &str, bytes: &[u8]) -> Request<Body> {
        let boundary = "greenbulk-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.app.csrf
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Request::post("/upload")
            .header(header::HOST, format!("127.0.0.1:{PORT}"))
            .header(header::COOKIE, self.cookie())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap()
    }
}

fn select<'h>(html: &'h Html, css: &str) -> Vec<scraper::ElementRef<'h>> {
    html.select(&Selector::parse(css).unwrap()).collect()
}

fn text(element: &scraper::ElementRef) -> String {
    element.text().collect::<String>().trim().to_string()
}

#[tokio::test]
async fn every_request_needs_the_secret_the_host_and_for_a_post_the_page_itself() {
    let page = page();
    let bare = Request::get("/")
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(page.send(bare).await.0, StatusCode::FORBIDDEN);
    let wrong = Request::get("/?token=0123456789abcdef0123456789abcdef")
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(page.send(wrong).await.0, StatusCode::FORBIDDEN);
    // The printed address: the secret moves into a cookie only this page gets.
    let first = Request::get(format!("/?token={}", page.app.secret))
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = page.send(first).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (status, headers, _) = page.send(page.get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "no CORS"
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    // Another name for 127.0.0.1 (DNS rebinding): nothing.
    let mut rebound = page.get("/");
    rebound.headers_mut().insert(
        header::HOST,
        format!("evil.example:{PORT}").parse().unwrap(),
    );
    assert_eq!(page.send(rebound).await.0, StatusCode::MISDIRECTED_REQUEST);
    // A form posted from another site, or without the page's token: refused.
    let mut elsewhere = page.post_form("/open", &[("csrf", &page.app.csrf), ("name", "x.csv")]);
    elsewhere
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(page.send(elsewhere).await.0, StatusCode::FORBIDDEN);
    let forged = page.post_form("/open", &[("csrf", "0000"), ("name", "x.csv")]);
    assert_eq!(page.send(forged).await.0, StatusCode::FORBIDDEN);
    let missing = page.post_form("/open", &[("name", "x.csv")]);
    assert_eq!(page.send(missing).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn uploads_are_bounded_and_kept_under_safe_names_never_over_a_file() {
    let page = page();
    assert_eq!(
        handlers::safe_name("../../etc/passwd.csv").as_deref(),
        Some("passwd.csv")
    );
    assert_eq!(
        handlers::safe_name("C:\\Users\\me\\list.XLSX").as_deref(),
        Some("list.XLSX")
    );
    assert_eq!(
        handlers::safe_name(".hidden.csv").as_deref(),
        Some("hidden.csv")
    );
    assert_eq!(
        handlers::safe_name("a\u{1b}[31m.csv").as_deref(),
        Some("a_[31m.csv")
    );
    assert_eq!(handlers::safe_name("run.exe"), None);
    assert_eq!(handlers::safe_name(".csv"), None);

    std::fs::write(page.app.dir.join("contacts.csv"), "mine").unwrap();
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/contacts.csv")).unwrap();
    let (status, headers, _) = page.send(page.upload("../contacts.csv", &csv)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/jobs/")
    );
    assert_eq!(
        std::fs::read_to_string(page.app.dir.join("contacts.csv")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read(page.app.dir.join("contacts-2.csv")).unwrap(),
        csv
    );

    // Over the limit: a message on the first page, and nothing kept.
    let big = vec![b'7'; 80 << 10];
    let (status, headers, _) = page.send(page.upload("big.csv", &big)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    assert!(!page.app.dir.join("big.csv").exists());
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    let alert = select(&html, "[role=alert]");
    assert!(
        text(&alert[0]).contains("did not arrive whole"),
        "{}",
        text(&alert[0])
    );
}

#[tokio::test]
async fn from_the_file_to_the_results_by_accessible_names() {
    let page = page();
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    let label = &select(&html, "label[for=file]")[0];
    assert_eq!(text(label), "Spreadsheet");
    assert_eq!(select(&html, "input#file[type=file]").len(), 1);
    let buttons: Vec<String> = select(&html, "button").iter().map(text).collect();
    assert_eq!(buttons, ["Check"]);

    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/contacts.csv")).unwrap();
    let (_, headers, _) = page.send(page.upload("contacts.csv", &csv)).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (status, _, body) = page.send(page.get(&job)).await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    let table = &select(&html, "table.problems")[0];
    assert_eq!(
        text(&select(&Html::parse_fragment(&table.html()), "caption")[0]),
        "Problems"
    );
    let rows: Vec<String> = select(&html, "table.problems tbody th")
        .iter()
        .map(text)
        .collect();
    assert_eq!(rows, ["5", "6"], "the spreadsheet's own row numbers");
    let marked = select(&html, "table.problems td.bad");
    assert!(
        text(&marked[0]).contains("7.90312E+10"),
        "{}",
        text(&marked[0])
    );
    let send: Vec<_> = select(&html, "button")
        .into_iter()
        .filter(|b| text(b) == "Send")
        .collect();
    assert_eq!(send.len(), 1);

    let (status, headers, _) = page
        .send(page.post_form(&format!("{job}/send"), &[("csrf", &page.app.csrf)]))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{job}/run"));
    let id = job.trim_start_matches("/jobs/");
    let run = lock(&page.app.job(id).unwrap().run).clone().unwrap();
    let mut ended = run.ended.subscribe();
    ended.wait_for(|ended| *ended).await.unwrap();
    let (_, _, body) = page.send(page.get(&format!("{job}/run"))).await;
    let html = Html::parse_document(&body);
    assert_eq!(select(&html, "[role=status][aria-live=polite]").len(), 1);
    let link = select(&html, "a.download")
        .into_iter()
        .find(|a| text(a) == "Download results")
        .expect("the results link");
    let (status, headers, bytes) = page
        .send(page.get(link.value().attr("href").unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("contacts-results.xlsx")
    );
    assert!(bytes.starts_with("PK"), "a workbook");
    // The same files as the CLI's: the results beside the input, 7 sent.
    let results = std::fs::read_to_string(page.app.dir.join("contacts-results.csv")).unwrap();
    assert_eq!(results.matches(",sent,").count(), 7, "{results}");
}
