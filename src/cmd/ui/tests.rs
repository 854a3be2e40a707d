//! The page's handlers in-process (no socket): the secret, the host, the CSRF token, upload
//! limits and names, and the HTML asserted by parsing it, as a browser and a screen reader
//! see it. The whole flow in a real browser is the integration test `ui`.

use std::path::Path as FsPath;
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
    page_with(|_| {})
}

/// A page whose server `adjust` sets up first (smaller bounds, say).
fn page_with(adjust: impl FnOnce(&mut App)) -> Page {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(
        PORT,
        dir.path().to_path_buf(),
        dir.path().join("state"),
        true,
        Some(Target::Sandbox { instances: 1 }),
    );
    app.upload_limit = 64 << 10;
    adjust(&mut app);
    let app = Arc::new(app);
    Page {
        router: router(app.clone()),
        app,
        _dir: dir,
    }
}

impl Page {
    fn cookie(&self) -> String {
        format!("{}={}", guard::cookie_name(PORT), self.app.secret)
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
        self.upload_of(boundary, Body::from(body))
    }

    /// An upload whose multipart `body` (parts between `boundary`) is given whole.
    fn upload_of(&self, boundary: &str, body: Body) -> Request<Body> {
        Request::post("/upload")
            .header(header::HOST, format!("127.0.0.1:{PORT}"))
            .header(header::COOKIE, self.cookie())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
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
    let (status, headers, body) = page.send(first).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moves_on_to(&body), "/");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Named for the port: another page's cookie (another port's) is not this one's.
    assert!(
        cookie.starts_with(&format!("greenbulk-session-{PORT}=")),
        "{cookie}"
    );
    let another = Request::get("/")
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .header(
            header::COOKIE,
            format!("greenbulk-session-7778={}", page.app.secret),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(page.send(another).await.0, StatusCode::FORBIDDEN);
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
    assert_eq!(
        handlers::safe_name("invoice\u{202e}xslx.csv").as_deref(),
        Some("invoice_xslx.csv"),
        "a name reads as it is"
    );
    assert_eq!(handlers::safe_name("run.exe"), None);
    // Windows' device names are kept as files.
    for (given, kept) in [
        ("con.csv", "_con.csv"),
        ("NUL.xlsx", "_NUL.xlsx"),
        ("Com1.list.csv", "_Com1.list.csv"),
        ("lpt9.ods", "_lpt9.ods"),
        ("console.csv", "console.csv"),
        ("com10.csv", "com10.csv"),
        // Never the name of what the page writes beside an input.
        ("list-Results.csv", "list_Results.csv"),
        ("a-problems.b-results.csv", "a_problems.b_results.csv"),
        ("list-results.csv.ledger.csv", "list_results.csv.ledger.csv"),
    ] {
        assert_eq!(handlers::safe_name(given).as_deref(), Some(kept), "{given}");
    }
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

    // A link in the folder under the name is left as it is, dangling or not.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(page.app.dir.join("gone"), page.app.dir.join("victim.csv"))
            .unwrap();
        page.send(page.upload("victim.csv", &csv)).await;
        assert!(page.app.dir.join("victim.csv").symlink_metadata().is_ok());
        assert_eq!(
            std::fs::read(page.app.dir.join("victim-2.csv")).unwrap(),
            csv
        );
    }
    // Uploads of one name at once: each kept, under a name of its own.
    let same = (0..8).map(|_| page.send(page.upload("same.csv", &csv)));
    let answers = futures_util::future::join_all(same).await;
    let mut jobs: Vec<String> = answers
        .iter()
        .map(|(_, headers, _)| headers[header::LOCATION].to_str().unwrap().to_string())
        .collect();
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 8, "eight jobs: {jobs:?}");
    assert!(jobs.iter().all(|job| job.starts_with("/jobs/")));
    for name in ["same.csv", "same-2.csv", "same-8.csv"] {
        assert_eq!(
            std::fs::read(page.app.dir.join(name)).unwrap(),
            csv,
            "{name}"
        );
    }

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

/// A file where a quote left open swallowed a row: the page says so and offers no Send
/// (the run would skip that row, and the row inside it with it).
#[tokio::test]
async fn a_file_with_a_swallowed_row_has_no_send_button() {
    let page = page();
    let csv = "chatId,phoneContact,firstName\n79161234500,79031234500,Zed\n\
               79161234567,79031234567,\"Ann\n79161234568,79031234568,Bob\"\n";
    let (_, headers, _) = page.send(page.upload("q.csv", csv.as_bytes())).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    let send = select(&html, "button")
        .into_iter()
        .find(|b| text(b) == "Send")
        .expect("the Send button");
    assert!(send.value().attr("disabled").is_some(), "{body}");
    assert!(
        text(&select(&html, "p.error")[0]).contains("stray quote"),
        "{body}"
    );
}

/// A workbook filtered in Excel: the page says how many rows the filter hides, and each is
/// a problem of its own (the run sends only the rows shown).
#[tokio::test]
async fn a_filtered_workbook_says_how_many_rows_it_hides_and_lists_each() {
    let page = page();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, title) in ["chatId", "phoneContact", "firstName"].iter().enumerate() {
        sheet.write_string(0, c as u16, *title).unwrap();
    }
    for r in 1..=5u32 {
        sheet.write_string(r, 0, "79161234500").unwrap();
        sheet.write_string(r, 1, format!("7903123450{r}")).unwrap();
        sheet.write_string(r, 2, format!("Name {r}")).unwrap();
    }
    sheet.set_row_hidden(2).unwrap();
    sheet.set_row_hidden(4).unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let (_, headers, _) = page.send(page.upload("filtered.xlsx", &bytes)).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    assert!(
        select(&html, "p.error")
            .iter()
            .any(|p| text(p).starts_with("2 rows are hidden in the sheet")),
        "{body}"
    );
    let rows: Vec<String> = select(&html, "table.problems tbody tr")
        .iter()
        .filter(|tr| text(tr).contains("hidden in the sheet"))
        .map(|tr| {
            let th = Selector::parse("th").unwrap();
            text(&tr.select(&th).next().expect("the row's number"))
        })
        .collect();
    assert_eq!(rows, ["3", "5"], "{body}");
}

/// A file of thousands of columns: the problems table shows the columns read for the card
/// (the bad phone among them, far to the right) and the first others, and says how many it
/// leaves out (a hostile audit's finding: 100,000 columns made a 48 MB page that Chromium
/// never finished drawing).
#[tokio::test]
async fn a_file_of_thousands_of_columns_gives_a_check_page_of_a_few() {
    let page = page();
    let mut headers: Vec<String> = (0..3000).map(|c| format!("extra {c}")).collect();
    headers.extend(["chatId", "phoneContact", "firstName"].map(String::from));
    let mut csv = headers.join(",");
    for row in 0..3 {
        let mut cells = vec![String::from("x"); 3000];
        cells.extend([format!("7916123456{row}"), "12".into(), "Ann".into()]);
        csv.push('\n');
        csv.push_str(&cells.join(","));
    }
    let (_, headers, _) = page.send(page.upload("wide.csv", csv.as_bytes())).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    let columns: Vec<String> = select(&html, "table.problems thead th")
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        columns.len(),
        1 + 24 + 1,
        "Row, the columns, Also wrong: {columns:?}"
    );
    assert!(
        columns.ends_with(&["chatId", "phoneContact", "firstName", "Also wrong"].map(String::from))
    );
    let marked = select(&html, "table.problems td.bad");
    assert_eq!(marked.len(), 3, "each row's phone");
    assert!(text(&marked[0]).starts_with("12"), "{}", text(&marked[0]));
    assert!(body.contains("2,979 more are left out here"), "{body}");
    assert!(body.len() < 100_000, "{} bytes", body.len());
}

/// A real socket to the page's server, and what it answers to `request` (until it closes).
async fn over_a_socket(address: std::net::SocketAddr, request: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The page's server on a real socket: its address, what stops it, and its task.
async fn serving(
    page: &Page,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_until(listener, page.app.clone(), async {
        let _ = stopped.await;
    }));
    (address, stop, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_no_request_is_closed_and_no_more_than_so_many_are_served() {
    let page = page_with(|app| {
        app.connections_at_most = 2;
        app.headers_within = Duration::from_millis(300);
    });
    let (address, stop, served) = serving(&page).await;
    let bound = Duration::from_secs(30);
    // Two connections that never finish their headers take every slot, then are closed.
    let idle = [
        over_a_socket(address, ""),
        over_a_socket(address, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
    ];
    // A request behind them is answered once they are gone.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
        page.cookie()
    );
    let (idle, answered) = tokio::time::timeout(bound, async {
        tokio::join!(
            futures_util::future::join_all(idle),
            over_a_socket(address, &request)
        )
    })
    .await
    .expect("idle connections are closed");
    for closed in idle {
        let closed = closed.unwrap();
        assert!(!closed.contains("200 OK"), "{closed}");
    }
    assert!(
        answered.unwrap().starts_with("HTTP/1.1 200"),
        "served after them"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(bound, served).await.unwrap().unwrap();
}

/// A program that keeps every slot with connections that send nothing (or a request without
/// the secret, then nothing more) does not keep the browser out until they time out: a new
/// connection closes the one silent longest, and a refused one is closed at once (a hostile
/// audit's finding: 400 idle connections held the page for as long as they liked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_nothing_cannot_keep_the_browser_out() {
    use tokio::io::AsyncWriteExt;
    let page = page_with(|app| {
        app.connections_at_most = 4;
        // Far longer than the test may take: only being closed frees a slot in time.
        app.headers_within = Duration::from_secs(600);
    });
    let (address, stop, served) = serving(&page).await;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
        page.cookie()
    );
    // Connections that send nothing; then connections refused (no secret) kept open for more.
    for refused in [false, true] {
        let mut held = Vec::new();
        for _ in 0..12 {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            if refused {
                let bare = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n\r\n");
                stream.write_all(bare.as_bytes()).await.unwrap();
            }
            held.push(stream);
        }
        let answered =
            tokio::time::timeout(Duration::from_secs(60), over_a_socket(address, &request))
                .await
                .expect("answered while the others still hold their connections")
                .unwrap();
        assert!(
            answered.starts_with("HTTP/1.1 200"),
            "refused: {refused}: {answered}"
        );
        drop(held);
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_page_stops_its_runs_whatever_connections_are_open() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let page = page_with(|app| app.upload_limit = 1 << 20);
    let mut csv = String::from("chatId,phoneContact,firstName\n");
    for i in 0..3000 {
        csv.push_str(&format!("7916{i:07},7903{i:07},N{i}\n"));
    }
    let (_, headers, _) = page.send(page.upload("many.csv", csv.as_bytes())).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (status, _, _) = page.send(page.get(&job)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = page
        .send(page.post_form(&format!("{job}/send"), &[("csrf", &page.app.csrf)]))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = job.trim_start_matches("/jobs/");
    let run = lock(&page.app.job(id).unwrap().run).clone().unwrap();
    // Under way: a card has gone (a run that sent nothing leaves no files to look at).
    let mut updates = run.updates.subscribe();
    while lock(&run.state).sent == 0 {
        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = updates.recv().await {
            panic!("the run ended before a card went");
        }
    }
    // Its results are not offered while it writes them: on disk they are its first look.
    for download in ["results.csv", "results.xlsx"] {
        let (status, _, body) = page.send(page.get(&format!("{job}/{download}"))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{download}: {body}");
    }

    let (address, stop, served) = serving(&page).await;
    // The Send tab's progress stream, open, and a request cut short in its headers.
    let mut events = tokio::net::TcpStream::connect(address).await.unwrap();
    events
        .write_all(
            format!(
                "GET {job}/events HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nCookie: {}\r\n\r\n",
                page.cookie()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut events = tokio::io::BufReader::new(events);
    let mut head = String::new();
    events.read_line(&mut head).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut cut = tokio::net::TcpStream::connect(address).await.unwrap();
    cut.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), served)
        .await
        .expect("the page stops with connections open")
        .unwrap();
    assert!(*run.ended.borrow(), "the run ended before the page did");
    let finished = lock(&run.state).finished.clone().unwrap();
    assert!(finished.stopped.is_some(), "it was stopped: {finished:?}");
    let results = std::fs::read_to_string(page.app.dir.join("many-results.csv")).unwrap();
    let sent = results.matches(",sent,").count();
    assert!(sent < 3000, "stopped short: {sent} sent");
    assert_eq!(results.lines().count(), 3001, "every row has its line");
}

#[tokio::test]
async fn a_page_started_with_sandbox_takes_no_instance() {
    let page = page();
    let (status, _, _) = page
        .send(page.post_form(
            "/credentials",
            &[
                ("csrf", &page.app.csrf),
                ("api_url", "http://127.0.0.1:9"),
                ("id_instance", "1101000001"),
                (
                    "token",
                    "5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1",
                ),
            ],
        ))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(matches!(page.app.target(), Some(Target::Sandbox { .. })));
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    assert!(text(&select(&html, "[role=alert]")[0]).contains("--sandbox"));
}

#[test]
fn a_csv_file_and_a_workbook_of_one_name_never_share_a_results_file() {
    let csv = Job::new("a".into(), "/m/pair.csv".into());
    let xlsx = Job::new("b".into(), "/m/pair.xlsx".into());
    assert_eq!(csv.results(), FsPath::new("/m/pair-results.csv"));
    assert_eq!(xlsx.results(), FsPath::new("/m/pair-xlsx-results.csv"));
    assert_eq!(csv.report(), FsPath::new("/m/pair-problems.xlsx"));
    assert_eq!(xlsx.report(), FsPath::new("/m/pair-xlsx-problems.xlsx"));
}

/// The terminal command's words read back, through a real shell, as they were.
#[cfg(unix)]
#[test]
fn the_terminal_command_reads_back_as_written_or_is_not_offered() {
    let words = [
        "plain",
        "two words",
        "it's",
        "given\tname",
        "back\\slash 'and' quotes",
        "invoice\u{202e}xslx",
        "esc\u{1b}[31m",
        "$(touch pwned)",
    ];
    for word in words {
        let quoted = crate::cmd::invocation::shell_word(word).unwrap();
        assert!(
            !quoted.chars().any(crate::term::needs_escape),
            "shown as it is: {quoted}"
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s' {quoted}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{quoted}");
    }
    assert_eq!(
        crate::cmd::invocation::shell_word("chatId=Phone\0 $(touch x)"),
        None
    );
    let job = Job::new("a".into(), "/m/list.csv".into());
    lock(&job.reading)
        .mappings
        .push(crate::input::FieldMapping {
            field: crate::input::Field::ChatId,
            header: "Phone\0".into(),
        });
    assert_eq!(
        job.resume_command(true),
        None,
        "no command rather than a wrong one"
    );
}

/// A report that cannot be written (here: to a full device) leaves the check whole, and
/// says why; a problem row's long cell is kept and shown cut short.
#[cfg(target_os = "linux")]
#[test]
fn a_report_that_cannot_be_written_is_left_off_and_long_cells_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("list.csv");
    let long = "7".repeat(100_000);
    std::fs::write(
        &input,
        format!(
            "chatId,phoneContact,firstName\n79161234567,79031234567,Ann\n{long},79031234568,Bob\n"
        ),
    )
    .unwrap();
    let job = Job::new("a".into(), input);
    std::os::unix::fs::symlink("/dev/full", job.report()).unwrap();
    let checked = match jobs::check_rows(&job) {
        Ok(checked) => checked,
        Err(_) => panic!("the check ends whole"),
    };
    assert!(!checked.report);
    assert_eq!(checked.tally.invalid, 1);
    assert!(
        checked
            .warnings
            .iter()
            .any(|w| w.contains("not written") && w.contains("space")),
        "{:?}",
        checked.warnings
    );
    let cells = &checked.problems[0].cells;
    assert_eq!(
        cells[0].chars().count(),
        201,
        "cut short: {}",
        cells[0].len()
    );
    assert!(cells[0].ends_with('…'));
    assert!(
        checked.problems[0]
            .marks
            .iter()
            .all(|(_, m)| m.chars().count() <= 401)
    );
}

/// The browser is opened on a page only its owner can read (a command line is everyone's),
/// written anew over nothing, and removed once the secret has been used.
#[cfg(unix)]
#[tokio::test]
async fn the_browser_opens_a_page_only_its_owner_reads_gone_once_used() {
    use std::os::unix::fs::PermissionsExt;
    let page = page();
    let elsewhere = page.app.dir.join("elsewhere.txt");
    std::fs::write(&elsewhere, "keep").unwrap();
    let name = page.app.dir.join(format!("greenbulk-ui-{PORT}.html"));
    std::os::unix::fs::symlink(&elsewhere, &name).unwrap();
    let opened = opening_page(&page.app.dir, PORT, &page.app.address()).unwrap();
    assert_eq!(opened, name);
    let meta = std::fs::symlink_metadata(&opened).unwrap();
    assert!(meta.is_file(), "a file, not the link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&opened)
            .unwrap()
            .contains(&page.app.address())
    );
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep");

    *lock(&page.app.opened_from) = Some(opened.clone());
    let first = Request::get(format!("/?token={}", page.app.secret))
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(page.send(first).await.0, StatusCode::OK);
    assert!(!opened.exists(), "gone once the secret is used");
}

/// Two names whose results files would be one (`list.csv` and `list.CSV`, `book.xlsx` and
/// `book-xlsx.csv`): the upload is kept under a name of its own results, and a pair put in
/// the folder by hand is not opened (a hostile audit's finding: the second file's run took
/// over the first's results and ledger).
#[tokio::test]
async fn two_files_never_share_a_results_file() {
    let page = page();
    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/contacts-clean.csv"
    ))
    .unwrap();
    // An upload named as another's results file is kept under a name of its own (a hostile
    // audit's finding: `k2-results.csv` uploaded, then `k2.csv` sent, took it for its results
    // and claimed its rows as sent).
    let (_, headers, _) = page.send(page.upload("k2-results.csv", &csv)).await;
    let job = headers[header::LOCATION].to_str().unwrap();
    let job = page.app.job(job.trim_start_matches("/jobs/")).unwrap();
    assert_eq!(job.input, page.app.dir.join("k2_results.csv"));
    assert!(!page.app.dir.join("k2-results.csv").exists());
    for (first, second, kept) in [
        ("list.csv", "list.CSV", "list-2.CSV"),
        ("book-xlsx.csv", "book.xlsx", "book-2.xlsx"),
        ("notes-TXT.csv", "notes.TXT", "notes-2.TXT"),
        ("m_results.z.csv", "m-results.z.CSV", "m_results.z-2.CSV"),
    ] {
        std::fs::write(page.app.dir.join(first), &csv).unwrap();
        let (status, headers, _) = page.send(page.upload(second, &csv)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{second}");
        let job = headers[header::LOCATION].to_str().unwrap();
        let job = page.app.job(job.trim_start_matches("/jobs/")).unwrap();
        assert_eq!(job.input, page.app.dir.join(kept), "{second}");
        assert_ne!(
            job.results(),
            jobs::beside(&page.app.dir.join(first), "results", "csv"),
            "{second}"
        );
        assert!(!page.app.dir.join(second).exists(), "{second}");
    }
    // Put there by hand: neither is opened, and the page says why.
    std::fs::write(page.app.dir.join("pair.csv"), &csv).unwrap();
    std::fs::write(page.app.dir.join("pair.CSV"), &csv).unwrap();
    let (_, headers, _) = page
        .send(page.post_form("/open", &[("csrf", &page.app.csrf), ("name", "pair.CSV")]))
        .await;
    assert_eq!(headers[header::LOCATION], "/");
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    let alert = text(&select(&html, "[role=alert]")[0]);
    assert!(
        alert.contains("would share one results file, pair-results.csv"),
        "{alert}"
    );
}

/// An upload cut short — the page stopped under it, or the machine — leaves no file under an
/// input's name (a hostile audit's finding: half a list was offered as a file after a
/// restart), and the next page removes what it left once it is an hour old.
#[tokio::test]
async fn an_upload_cut_short_is_never_offered_as_a_file() {
    use futures_util::StreamExt;
    let page = page();
    let boundary = "greenbulk-test-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nchatId,phoneContact,firstName\n79161234567,79031234567,Ann\n",
        page.app.csrf
    );
    // The body's first part arrives, and the rest never does.
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) })
        .chain(futures_util::stream::pending());
    let upload = page
        .router
        .clone()
        .oneshot(page.upload_of(boundary, Body::from_stream(body)));
    // The page stops with the upload under way: its task is dropped.
    let parts = || {
        std::fs::read_dir(&page.app.dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(handlers::PART_PREFIX))
            .collect::<Vec<_>>()
    };
    let mut upload = Box::pin(upload);
    let mut begun = false;
    for _ in 0..500 {
        if tokio::time::timeout(Duration::from_millis(10), &mut upload)
            .await
            .is_ok()
        {
            panic!("the upload cannot end: its body never does");
        }
        if !parts().is_empty() {
            begun = true;
            break;
        }
    }
    assert!(begun, "the upload is being written");
    drop(upload);
    assert!(!page.app.dir.join("half.csv").exists());
    assert!(page.app.inputs().is_empty(), "{:?}", page.app.inputs());
    // An hour later, the next page removes it.
    let part = page.app.dir.join(&parts()[0]);
    std::fs::File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    page.app.sweep_parts();
    assert!(parts().is_empty());
}

/// Any file in the folder can be opened, not only the newest the first page lists; forms
/// are small; the credentials typed in are checked and the Check page says what is wrong,
/// naming the form's fields; and the address's secret leads to the page's own path only.
#[tokio::test]
async fn the_page_opens_any_file_takes_small_forms_and_says_where_it_was_asked() {
    let page = page_with(|app| {
        app.sandbox = false;
        *lock(&app.target) = None;
    });
    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/contacts-clean.csv"
    ))
    .unwrap();
    for n in 0..25 {
        let path = page.app.dir.join(format!("f{n:02}.csv"));
        std::fs::write(&path, &csv).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600 - n * 60))
            .unwrap();
    }
    // The newest 20 listed, the others under "older files".
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    assert_eq!(
        select(&html, "body > main > ul.recent li").len(),
        20,
        "{body}"
    );
    assert_eq!(text(&select(&html, "details summary")[0]), "5 older files");
    let older: Vec<String> = select(&html, "details li").iter().map(text).collect();
    assert!(older.contains(&"Open f00.csv".to_string()), "{older:?}");
    let (_, headers, _) = page
        .send(page.post_form("/open", &[("csrf", &page.app.csrf), ("name", "f00.csv")]))
        .await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(job.starts_with("/jobs/"), "{job}");

    let name = "n".repeat(100 << 10);
    let (status, _, _) = page
        .send(page.post_form("/open", &[("csrf", &page.app.csrf), ("name", &name)]))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, headers, _) = page
        .send(page.post_form(
            "/credentials",
            &[
                ("csrf", &page.app.csrf),
                ("back", &job),
                ("api_url", "https://7103.api.greenapi.com"),
                ("id_instance", "abc"),
                ("token", "0123abcd"),
            ],
        ))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], job.as_str());
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    let alert = text(&select(&html, "[role=alert]")[0]);
    assert!(alert.starts_with("idInstance"), "{alert}");
    assert!(!alert.contains("--id-instance"), "{alert}");

    let (_, _, body) = page
        .send(
            Request::get(format!("//evil.example/?token={}", page.app.secret))
                .header(header::HOST, format!("127.0.0.1:{PORT}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(moves_on_to(&body), "/");
    assert_eq!(
        handlers::safe_name(&format!("{}.xlsx", "ж".repeat(200))).map(|n| n.len()),
        Some(150 + ".xlsx".len())
    );
}

/// A file saved again after its check is checked again when the Check step is shown: the
/// page shows the rows a Send would send (a hostile audit's finding: it kept the first look,
/// and Send then sent rows the page never showed).
#[tokio::test]
async fn a_file_changed_since_its_check_is_checked_again() {
    let page = page();
    let two =
        "chatId,phoneContact,firstName\n79161234567,79031234567,Ann\n79161234568,79031234568,Bob\n";
    let (_, headers, _) = page.send(page.upload("edit.csv", two.as_bytes())).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    assert!(select(&html, "table.problems").is_empty(), "{body}");
    let five = format!(
        "{two}79161234569,79031234569,Eve\n79161234570,12,Zed\n79161234571,79031234571,Kim\n"
    );
    std::fs::write(page.app.dir.join("edit.csv"), five).unwrap();
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    let rows: Vec<String> = select(&html, "table.problems tbody th")
        .iter()
        .map(text)
        .collect();
    assert_eq!(rows, ["5"], "{body}");
}

/// A mistyped token is corrected on the page: the Check page says the instance refused it
/// and offers the form again, open (a hostile audit's finding: the form was gone, and only
/// restarting `greenbulk ui` helped).
#[tokio::test]
async fn a_mistyped_token_is_typed_again_on_the_page() {
    let page = page_with(|app| {
        app.sandbox = false;
        app.typed_in = true;
        *lock(&app.target) = None;
    });
    let emulator = crate::sandbox::Sandbox::start(crate::sandbox::Config::default(), 0)
        .await
        .unwrap();
    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/contacts-clean.csv"
    ))
    .unwrap();
    let (_, headers, _) = page.send(page.upload("clean.csv", &csv)).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    let typed = |token: &str| {
        page.post_form(
            "/credentials",
            &[
                ("csrf", &page.app.csrf),
                ("back", &job),
                ("api_url", &emulator.url()),
                ("id_instance", crate::sandbox::DEFAULT_ID_INSTANCE),
                ("token", token),
            ],
        )
    };
    let wrong = "0123456789abcdef0123456789abcdef0123456789abcdef01";
    page.send(typed(wrong)).await;
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    let alert: Vec<String> = select(&html, "p.error[role=alert]")
        .iter()
        .map(text)
        .collect();
    assert!(
        alert.iter().any(|a| a.contains("apiTokenInstance")),
        "{alert:?}"
    );
    assert_eq!(
        select(&html, "details[open] input#token").len(),
        1,
        "{body}"
    );

    page.send(typed(crate::sandbox::DEFAULT_TOKEN)).await;
    let (_, _, body) = page.send(page.get(&job)).await;
    let html = Html::parse_document(&body);
    assert!(select(&html, "p.error[role=alert]").is_empty(), "{body}");
    assert_eq!(
        select(&html, "details:not([open]) input#token").len(),
        1,
        "{body}"
    );
    assert!(!select(&html, "p.plan").is_empty(), "{body}");
}

/// A page started for several instances sends from them all (a hostile audit's finding:
/// `ui --instances` was taken and the run went from one).
#[tokio::test]
async fn a_page_for_several_instances_sends_from_them_all() {
    let page = page_with(|app| *lock(&app.target) = Some(Target::Sandbox { instances: 3 }));
    let rows: String = (0..12)
        .map(|n| format!("791612345{n:02},790312345{n:02},Name{n}\n"))
        .collect();
    let csv = format!("chatId,phoneContact,firstName\n{rows}");
    let (_, headers, _) = page.send(page.upload("many.csv", csv.as_bytes())).await;
    let job = headers[header::LOCATION].to_str().unwrap().to_string();
    page.send(page.get(&job)).await;
    let (status, _, _) = page
        .send(page.post_form(&format!("{job}/send"), &[("csrf", &page.app.csrf)]))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = job.trim_start_matches("/jobs/");
    let run = lock(&page.app.job(id).unwrap().run).clone().unwrap();
    let mut ended = run.ended.subscribe();
    ended.wait_for(|ended| *ended).await.unwrap();
    let mut reader = csv::Reader::from_path(page.app.dir.join("many-results.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let (status, instance) = (
        header.iter().position(|h| h == "status").unwrap(),
        header.iter().position(|h| h == "instance").unwrap(),
    );
    let mut instances = std::collections::BTreeSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(&record[status], "sent", "{record:?}");
        instances.insert(record[instance].to_string());
    }
    assert!(instances.len() > 1, "{instances:?}");
}

/// An instance typed into the page is recognised as a standalone sandbox as `send` recognises
/// one (a review: the page took it for a real instance, whose history then held the
/// sandbox's cards), and `localhost` on the port it serves is refused as unclear.
#[tokio::test]
async fn the_page_knows_a_standalone_sandbox_as_send_does() {
    let page = page_with(|app| {
        app.sandbox = false;
        *lock(&app.target) = None;
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _marked = crate::sandbox::announce(&page.app.state_dir, port).unwrap();
    let typed = |url: String| {
        page.post_form(
            "/credentials",
            &[
                ("csrf", &page.app.csrf),
                ("api_url", &url),
                ("id_instance", "1101000001"),
                (
                    "token",
                    "5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1",
                ),
            ],
        )
    };
    page.send(typed(format!("http://localhost:{port}"))).await;
    assert!(page.app.target().is_none());
    let (_, _, body) = page.send(page.get("/")).await;
    let html = Html::parse_document(&body);
    let alert = text(&select(&html, "[role=alert]")[0]);
    assert!(
        alert.contains(&format!("give http://127.0.0.1:{port} for the sandbox")),
        "{alert}"
    );

    page.send(typed(format!("http://127.0.0.1:{port}"))).await;
    match page.app.target() {
        Some(Target::Api(instances)) => assert!(instances[0].emulated),
        other => panic!("{other:?}"),
    }
}

/// Where the page that takes the secret moves on to (its `refresh`), the one link it holds
/// leading to the same place.
fn moves_on_to(body: &str) -> String {
    let html = Html::parse_document(body);
    let refresh = Selector::parse("meta[http-equiv=refresh]").unwrap();
    let content = html
        .select(&refresh)
        .next()
        .and_then(|meta| meta.value().attr("content"))
        .expect("a refresh");
    let to = content.strip_prefix("0;url=").expect("at once").to_string();
    let link = Selector::parse("a").unwrap();
    let links: Vec<_> = html
        .select(&link)
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert_eq!(links, [to.as_str()], "{body}");
    to
}
