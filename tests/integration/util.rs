//! The shared test harness: a temporary work dir, fixture writers for CSV and XLSX, the real
//! binary run with a scrubbed environment, and results files read back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use greenbulk::sandbox::{Config, Faults, SandboxThread};

pub struct Workdir {
    dir: tempfile::TempDir,
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A cell of an XLSX fixture.
#[derive(Clone)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(f64),
    Empty,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("fixture written");
        path
    }

    pub fn write_xlsx(&self, name: &str, sheets: &[(&str, Vec<Vec<Cell>>)]) -> PathBuf {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        for (sheet_name, rows) in sheets {
            let sheet = workbook.add_worksheet();
            sheet.set_name(*sheet_name).expect("sheet name");
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match cell {
                        Cell::Text(t) => sheet.write_string(r, c, *t).map(|_| ()),
                        Cell::Number(n) => sheet.write_number(r, c, *n).map(|_| ()),
                        Cell::Empty => Ok(()),
                    }
                    .expect("cell written");
                }
            }
        }
        let path = self.path(name);
        workbook.save(&path).expect("workbook saved");
        path
    }

    /// The binary with an empty environment (but PATH, and a state directory of the work
    /// dir's own, so no test sees another's sent-card history), run in the work dir. With
    /// `GREENBULK_HISTORY_PARTS` set for the tests, every `status` works on the history in
    /// that many parts (as on a big one): `GREENBULK_HISTORY_PARTS=3 cargo test`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_greenbulk"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // Windows' sockets need it.
            .envs(std::env::var_os("SystemRoot").map(|root| ("SystemRoot", root)))
            .env("XDG_STATE_HOME", self.path("state"))
            .stdin(Stdio::null());
        if let Some(parts) = std::env::var_os("GREENBULK_HISTORY_PARTS") {
            command.env("GREENBULK_HISTORY_PARTS", parts);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("the binary runs"))
    }

    /// Runs `send` against an emulator with its credentials in the environment.
    pub fn send(&self, sandbox: &SandboxThread, args: &[&str]) -> Run {
        Run::from_output(
            self.send_command(sandbox, args)
                .output()
                .expect("the binary runs"),
        )
    }

    pub fn send_command(&self, sandbox: &SandboxThread, args: &[&str]) -> Command {
        let mut all = vec!["send"];
        all.extend_from_slice(args);
        self.api_command(sandbox, &all)
    }

    /// Any command against an emulator, its credentials in the environment.
    pub fn run_with(&self, sandbox: &SandboxThread, args: &[&str]) -> Run {
        Run::from_output(
            self.api_command(sandbox, args)
                .output()
                .expect("the binary runs"),
        )
    }

    /// `greenbulk status` against an emulator.
    pub fn status(&self, sandbox: &SandboxThread, args: &[&str]) -> Run {
        let mut all = vec!["status"];
        all.extend_from_slice(args);
        Run::from_output(
            self.api_command(sandbox, &all)
                .output()
                .expect("the binary runs"),
        )
    }

    /// The binary with an emulator's credentials in the environment.
    pub fn api_command(&self, sandbox: &SandboxThread, args: &[&str]) -> Command {
        let mut command = self.command(args);
        command
            .env("GREEN_API_URL", sandbox.url())
            .env("GREEN_API_ID_INSTANCE", &sandbox.config().id_instance)
            .env("GREEN_API_TOKEN_INSTANCE", &sandbox.config().token);
        command
    }

    pub fn spawn_send(&self, sandbox: &SandboxThread, args: &[&str]) -> Child {
        self.send_command(sandbox, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts")
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("file readable")
    }
}

/// A CSV file as rows of named fields (first header wins for repeated names).
pub fn read_records(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .expect("CSV readable");
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a record");
            let mut map = HashMap::new();
            for (name, value) in headers.iter().zip(record.iter()) {
                map.entry(name.to_string())
                    .or_insert_with(|| value.to_string());
            }
            map
        })
        .collect()
}

/// The CSV header of a file.
pub fn read_header(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).expect("CSV readable");
    reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect()
}

/// Flags for a quick run: the fastest rate GREEN-API allows.
pub const FAST: [&str; 4] = ["--rate", "50/s", "--concurrency", "16"];

/// `send` flags: the input, the results file, [`FAST`], then `extra`.
pub fn send_args<'a>(input: &'a str, results: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![input, "--results", results];
    all.extend_from_slice(&FAST);
    all.extend_from_slice(extra);
    all
}

/// Every row of a results file is `sent` with an idMessage the emulator really gave, or
/// `unknown` (its request may have left); returns how many are unknown.
pub fn assert_sent_or_unknown(rows: &[HashMap<String, String>], sandbox: &SandboxThread) -> usize {
    let accepted: Vec<String> = sandbox
        .outgoing()
        .iter()
        .map(|m| m.id_message.clone())
        .collect();
    let mut unknown = 0;
    for row in rows {
        match row["status"].as_str() {
            "sent" => assert!(
                accepted.contains(&row["idMessage"]),
                "a real delivery: {row:?}"
            ),
            "unknown" => unknown += 1,
            other => panic!("{other}: {row:?}"),
        }
    }
    unknown
}

/// `count` distinct, valid contact rows (canonical headers), one per line.
pub fn contacts_csv(count: usize) -> String {
    let mut csv = String::from("chatId,phoneContact,firstName,lastName,company\n");
    for i in 0..count {
        csv.push_str(&format!(
            "7916{:07},7903{:07},Name{i},Surname{i},Company {i}\n",
            1_000_000 + i,
            2_000_000 + i
        ));
    }
    csv
}

/// The first line a child writes to a pipe (then the pipe may be closed, as `| head -1` does).
pub fn first_line(stream: impl std::io::Read) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line).unwrap();
    line
}

/// A child process ended with the test, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `greenbulk sandbox ARGS` on a free port, in a work directory (its state directory too):
/// the process (killed on drop) and its URL.
pub struct Standalone {
    child: Child,
    pub url: String,
}

impl Standalone {
    pub fn start(dir: &Workdir, args: &[&str]) -> Standalone {
        let mut child = dir
            .command(&["sandbox", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let first = first_line(child.stdout.take().expect("a pipe"));
        assert!(
            first.starts_with("greenbulk sandbox listening on http://127.0.0.1:"),
            "{first}"
        );
        let url = first.trim().rsplit(' ').next().unwrap().to_string();
        Standalone { child, url }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a child writes to a pipe, until it closes it.
pub fn read_all(mut stream: impl std::io::Read) -> String {
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// The idMessage of every card the emulator accepted, in order.
pub fn accepted_ids(sandbox: &SandboxThread) -> Vec<String> {
    sandbox
        .outgoing()
        .iter()
        .map(|m| m.id_message.clone())
        .collect()
}

/// An emulator with these faults and default credentials.
pub fn sandbox(faults: Faults) -> SandboxThread {
    SandboxThread::start(Config {
        faults,
        ..Config::default()
    })
    .expect("the emulator starts")
}

/// Waits (polling) until `condition` holds, or panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How often each (chatId, phoneContact, names) was accepted by the emulator.
pub fn deliveries(sandbox: &SandboxThread) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in sandbox.outgoing() {
        let key = format!(
            "{}|{}|{}",
            message.chat_id, message.phone_contact, message.contact.vcard
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Every contact card reached its chat at most once.
pub fn assert_no_double_delivery(sandbox: &SandboxThread) {
    let twice: Vec<_> = deliveries(sandbox)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

/// A minimal XLSX whose one sheet holds `rows_xml` (the `<row>` elements), written by hand so
/// a test can put in what no spreadsheet program writes (a formula with no saved value).
pub fn write_raw_xlsx(path: &Path, rows_xml: &str) {
    write_raw_xlsx_parts(path, RawBook::default(), |sheet| {
        sheet.write_all(rows_xml.as_bytes()).unwrap();
    });
}

/// A minimal ODS file whose one sheet, `Clients`, holds a header row (chatId, phoneContact,
/// firstName) and then `rows_xml` (`<table:table-row>` elements), written by hand so a test
/// can put in what LibreOffice would not write.
pub fn write_raw_ods(path: &Path, rows_xml: &str) {
    write_ods_content(
        path,
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Clients"><table:table-row><table:table-cell office:value-type="string"><text:p>chatId</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>phoneContact</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>firstName</text:p></table:table-cell></table:table-row>{rows_xml}</table:table></office:spreadsheet></office:body></office:document-content>"#
        ),
    );
}

/// A minimal ODS file whose `content.xml` is `content`, as given.
pub fn write_ods_content(path: &Path, content: &str) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", stored).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
    let deflated = zip::write::SimpleFileOptions::default();
    zip.start_file("content.xml", deflated).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap();
}

/// A zip bomb: a small XLSX whose cell B2 is an inline string of `bytes` bytes.
pub fn write_xlsx_bomb(path: &Path, bytes: usize) {
    write_xlsx_bomb_in(path, bytes, RawBook::default());
}

/// Writes the body of one part of a hand-written workbook.
pub type PartWriter<'a> = &'a dyn Fn(&mut dyn std::io::Write);

/// How a hand-written workbook is laid out: its sheet's name and part, and any shared
/// strings part (written first).
pub struct RawBook<'a> {
    pub sheet_name: &'a str,
    pub sheet_part: &'a str,
    pub shared_strings: Option<PartWriter<'a>>,
}

impl Default for RawBook<'_> {
    fn default() -> Self {
        RawBook {
            sheet_name: "Sheet1",
            sheet_part: "worksheets/sheet1.xml",
            shared_strings: None,
        }
    }
}

/// [`write_xlsx_bomb`] in a workbook laid out as `book` says.
pub fn write_xlsx_bomb_in(path: &Path, bytes: usize, book: RawBook) {
    write_raw_xlsx_parts(path, book, |sheet| {
        sheet
            .write_all(
                br#"<row r="1"><c r="A1" t="inlineStr"><is><t>chatId</t></is></c><c r="B1" t="inlineStr"><is><t>firstName</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>79001234567</t></is></c><c r="B2" t="inlineStr"><is><t>"#,
            )
            .unwrap();
        let block = vec![b'A'; 1 << 20];
        for _ in 0..bytes / block.len() {
            sheet.write_all(&block).unwrap();
        }
        sheet.write_all(b"</t></is></c></row>").unwrap();
    });
}

pub fn write_raw_xlsx_parts(
    path: &Path,
    book: RawBook,
    sheet_rows: impl FnOnce(&mut dyn std::io::Write),
) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6));
    if let Some(shared) = book.shared_strings {
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        shared(&mut zip);
    }
    let workbook = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        book.sheet_name
    );
    let rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="{}"/></Relationships>"#,
        book.sheet_part
    );
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        ("xl/workbook.xml", workbook.as_str()),
        ("xl/_rels/workbook.xml.rels", rels.as_str()),
    ];
    for (name, text) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file(format!("xl/{}", book.sheet_part), options)
        .unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    )
    .unwrap();
    sheet_rows(&mut zip);
    zip.write_all(b"</sheetData></worksheet>").unwrap();
    zip.finish().unwrap();
}

/// Polls a running child's peak resident memory (`VmHWM`) until it exits; returns bytes.
pub fn peak_memory_until_exit(child: &mut Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    peak
}
