//! The page's requests, one function each. Every POST checks the form's CSRF token first;
//! every answer to a POST is a redirect to a GET (so a reload never repeats it).

// A refusal is an HTTP response, returned by value as axum handlers return everything.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use futures_util::Stream;
use tokio::io::AsyncWriteExt;

use super::guard::{refuse, same};
use super::jobs::{self, CheckError, Job, Reading};
use super::pages;
use super::{App, EXTENSIONS};
use crate::cli::SafetyArgs;
use crate::input::Field;
use crate::input::{FieldMapping, FieldSetting, Format, Outline};
use crate::lock;

type Answer = Result<Response, Response>;

fn html(markup: maud::Markup) -> Response {
    Html(markup.into_string()).into_response()
}

fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

fn csrf(app: &App, given: Option<&String>) -> Result<(), Response> {
    match given {
        Some(token) if same(token, &app.csrf) => Ok(()),
        _ => Err(refuse(
            StatusCode::FORBIDDEN,
            "this form is out of date (the page was opened before greenbulk ui restarted): \
             go back, reload the page and try again",
        )),
    }
}

fn job(app: &App, id: &str) -> Result<Arc<Job>, Response> {
    app.job(id).ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            "no such file here (greenbulk ui was restarted?): start again from the first page",
        )
    })
}

/// A form posted about one file: its CSRF token checked and its job found before the
/// handler sees it.
pub(super) struct JobPost {
    app: Arc<App>,
    job: Arc<Job>,
    form: HashMap<String, String>,
}

impl axum::extract::FromRequest<Arc<App>> for JobPost {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        app: &Arc<App>,
    ) -> Result<JobPost, Response> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = request.into_parts();
        let Path(id) = Path::<String>::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<HashMap<String, String>>::from_request(request, app)
            .await
            .map_err(IntoResponse::into_response)?;
        csrf(app, form.get("csrf"))?;
        Ok(JobPost {
            app: app.clone(),
            job: job(app, &id)?,
            form,
        })
    }
}

/// Blocking work on a blocking thread; a panic there is a 500, not a dead server.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

pub(super) async fn home(State(app): State<Arc<App>>) -> Response {
    html(pages::upload(
        &app.csrf,
        &app.inputs(),
        lock(&app.notice).take().as_deref(),
        &app.dir.to_string_lossy(),
    ))
}

/// A file's name as it is kept in `--dir`: its last part, nothing that could lead elsewhere,
/// an extension greenbulk reads.
pub(super) fn safe_name(given: &str) -> Option<String> {
    let base = given.rsplit(['/', '\\']).next()?.trim();
    let cleaned: String = base
        .chars()
        .map(|c| {
            // Control and direction characters too: a name must read as it is.
            if crate::term::needs_escape(c) || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|')
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    let extension = FsPath::new(&cleaned)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    if !EXTENSIONS.contains(&extension.as_str()) || cleaned.len() <= extension.len() + 1 {
        return None;
    }
    // The names made beside it (`-xlsx-problems.xlsx`, a ledger's temporary file) must fit
    // in the 255 bytes a file name may have: a long stem is cut.
    const STEM_AT_MOST: usize = 150;
    let (stem, extension) = cleaned.rsplit_once('.')?;
    let mut end = stem.len().min(STEM_AT_MOST);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    // A name Windows keeps for a device (`con.csv`, `NUL.xlsx`: what comes before the first
    // dot) is a device there, not a file: such a name is kept with `_` before it.
    let first = stem
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let device = matches!(first.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((first.starts_with("COM") || first.starts_with("LPT"))
            && first.len() == 4
            && first.as_bytes()[3].is_ascii_digit());
    let prefix = if device { "_" } else { "" };
    let mut name = format!("{prefix}{}.{extension}", &stem[..end]);
    // The names the page gives what it writes beside an input (`list-results.csv`, its
    // ledger, `list-problems.csv`) are never an upload's, in any case: an upload there would
    // be taken for another input's results (`list-results.csv` uploaded, then `list.csv`
    // sent on top of the rows it claims), or two uploads share one. `-` becomes `_`.
    for word in jobs::WRITTEN_BESIDE {
        let made = format!("-{word}.");
        while let Some(at) = name.to_ascii_lowercase().find(&made) {
            name.replace_range(at..at + 1, "_");
        }
    }
    Some(name)
}

pub(super) async fn upload(State(app): State<Arc<App>>, mut multipart: Multipart) -> Answer {
    let bad = |why: String| {
        *lock(&app.notice) = Some(why);
        see("/")
    };
    let mut token = None;
    let mut kept = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Err(bad(format!(
                    "the upload did not arrive whole ({e}); files up to {} MB are taken",
                    app.upload_limit >> 20
                )));
            }
        };
        match field.name() {
            Some("csrf") => token = field.text().await.ok(),
            Some("file") => {
                csrf(&app, token.as_ref())?;
                let given = field.file_name().unwrap_or_default().to_string();
                let Some(name) = safe_name(&given) else {
                    return Err(bad(format!(
                        "'{}' is not a file greenbulk reads: give a CSV file or an Excel or \
                         LibreOffice workbook ({})",
                        crate::term::shown(&given),
                        EXTENSIONS.join(", ")
                    )));
                };
                match keep(field, &app, &name).await {
                    Ok(path) => kept = Some(path),
                    Err(NotKept::Cut(e)) => {
                        return Err(bad(format!(
                            "the upload did not arrive whole ({e}); files up to {} MB are taken",
                            app.upload_limit >> 20
                        )));
                    }
                    Err(NotKept::Folder(e)) => {
                        return Err(bad(format!("cannot keep the file in the folder: {e}")));
                    }
                }
            }
            _ => {}
        }
    }
    let Some(path) = kept else {
        return Err(bad("choose a file first".into()));
    };
    let job = app.job_for(path);
    Ok(see(&format!("/jobs/{}", job.id)))
}

/// Why an upload was not kept.
enum NotKept {
    /// It did not arrive whole (cut off, or over the limit).
    Cut(axum::extract::multipart::MultipartError),
    /// The folder would not take it.
    Folder(anyhow::Error),
}

/// What an upload is written to until it is whole: hidden, and never an input's name.
pub(super) const PART_PREFIX: &str = ".greenbulk-upload-";

/// Streams an uploaded file into the folder: into a hidden file of its own first
/// ([`PART_PREFIX`]), and once whole under `name`, else `stem-2.ext`, `stem-3.ext` … — never
/// over a file that exists (or a link), never a name another upload took (each is taken by
/// creating it), and never one whose results file another input in the folder would share
/// (`list.csv` beside `list.CSV`). A file cut short — the browser gone, the page stopped,
/// the machine down — is never under an input's name: the page never offers half a list.
async fn keep(
    mut field: axum::extract::multipart::Field<'_>,
    app: &App,
    name: &str,
) -> Result<PathBuf, NotKept> {
    const NAMES_TRIED: u32 = 10_000;
    let folder = |e: std::io::Error| NotKept::Folder(e.into());
    let part = app.dir.join(format!(
        "{PART_PREFIX}{}.part",
        &super::guard::secret()[..12]
    ));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .await
        .map_err(folder)?;
    let written = async {
        while let Some(chunk) = field.chunk().await.map_err(NotKept::Cut)? {
            file.write_all(&chunk).await.map_err(folder)?;
        }
        file.sync_all().await.map_err(folder)
    }
    .await;
    drop(file);
    let placed = match written {
        Ok(()) => place(app, &part, name, NAMES_TRIED).await,
        Err(e) => Err(e),
    };
    if placed.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    placed
}

/// Puts the whole upload at `part` under its name in the folder (see [`keep`]): linked there,
/// which fails on a name taken; on a file system without links, the name is taken by
/// creating it, then the upload renamed over that empty file.
async fn place(app: &App, part: &FsPath, name: &str, tries: u32) -> Result<PathBuf, NotKept> {
    let _placing = app.placing.lock().await;
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    for n in 1..=tries {
        let candidate = match n {
            1 => name.to_string(),
            n => format!("{stem}-{n}.{extension}"),
        };
        if app.sharing_results(&candidate).is_some() {
            continue;
        }
        let path = app.dir.join(&candidate);
        match tokio::fs::hard_link(part, &path).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(part).await;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {}
        }
        let taken = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await;
        match taken {
            Ok(file) => {
                // Closed before the rename: Windows renames no file that is open.
                drop(file);
                return match tokio::fs::rename(part, &path).await {
                    Ok(()) => Ok(path),
                    Err(e) => {
                        let _ = tokio::fs::remove_file(&path).await;
                        Err(NotKept::Folder(e.into()))
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(NotKept::Folder(e.into())),
        }
    }
    Err(NotKept::Folder(anyhow::anyhow!(
        "{tries} files are named like '{name}' already; move some away"
    )))
}

pub(super) async fn open(
    State(app): State<Arc<App>>,
    Form(form): Form<HashMap<String, String>>,
) -> Answer {
    csrf(&app, form.get("csrf"))?;
    let name = form.get("name").map(String::as_str).unwrap_or_default();
    if !app.inputs().iter().any(|n| n == name) {
        *lock(&app.notice) = Some(format!(
            "there is no file '{}' here",
            crate::term::shown(name)
        ));
        return Ok(see("/"));
    }
    if let Some(other) = app.sharing_results(name) {
        let results = jobs::beside(&app.dir.join(name), jobs::RESULTS, "csv");
        *lock(&app.notice) = Some(format!(
            "'{}' and '{}' would share one results file, {}: rename one of them in the folder \
             {}",
            crate::term::shown(name),
            crate::term::shown(&other),
            results
                .file_name()
                .map_or_else(String::new, |n| crate::term::shown(&n.to_string_lossy())
                    .into_owned()),
            crate::term::shown_path(&app.dir),
        ));
        return Ok(see("/"));
    }
    let job = app.job_for(app.dir.join(name));
    Ok(see(&format!("/jobs/{}", job.id)))
}

/// The Check step: every row checked (once, until the columns or the file change) and what
/// sending would do.
pub(super) async fn check(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    if lock(&job.run).is_some() {
        return Ok(see(&format!("/jobs/{id}/run")));
    }
    // A file edited since (saved again from Excel) is checked again: the page must show the
    // rows a Send would send (a hostile audit's finding: it showed the first look's).
    let cached = lock(&job.checked)
        .clone()
        .filter(|checked| checked.file.is_some() && checked.file == jobs::stamp(&job.input));
    let checked = match cached {
        Some(checked) => checked,
        None => {
            let checking = job.clone();
            let rows = blocking(move || jobs::check_rows(&checking)).await?;
            let mut checked = match rows {
                Ok(checked) => checked,
                Err(CheckError::Columns(message)) => {
                    *lock(&app.notice) = Some(message);
                    return Ok(see(&format!("/jobs/{id}/columns")));
                }
                Err(CheckError::File(message)) => {
                    *lock(&app.notice) = Some(message);
                    return Ok(see("/"));
                }
            };
            if let Some(target) = app.target() {
                let (plan, error, to_send) = jobs::plan(&job, target, &app.state_dir, None).await;
                checked.plan = plan;
                checked.plan_error = error;
                checked.to_send = to_send;
            }
            *lock(&job.checked) = Some(checked.clone());
            checked
        }
    };
    Ok(html(pages::check(
        &app.csrf,
        &job,
        &checked,
        app.target_name().as_deref(),
        app.typed_in,
        job.resume_command(app.sandbox).as_deref(),
        lock(&app.notice).take().as_deref(),
    )))
}

pub(super) async fn columns(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    let options = job.options();
    let outline = blocking(move || Outline::of(&options)).await?;
    let outline = match outline {
        Ok(outline) => outline,
        Err(error) => {
            *lock(&app.notice) = Some(error.to_string());
            return Ok(see("/"));
        }
    };
    // What the columns are now: chosen here, else found by their headers.
    let reading = lock(&job.reading).clone();
    let found = crate::input::ColumnMap::resolve(
        &outline.headers.iter().map(String::as_str).collect(),
        &reading.mappings,
        &reading.settings,
        &job.input,
    )
    .ok();
    let chosen: Vec<(Field, Option<String>, Option<String>)> = Field::ALL
        .iter()
        .map(|field| {
            let column = found
                .as_ref()
                .and_then(|map| map.get(*field))
                .and_then(|at| outline.headers.get(at).cloned());
            let value = reading
                .settings
                .iter()
                .find(|s| s.field == *field)
                .map(|s| s.value.clone());
            (*field, column, value)
        })
        .collect();
    let (sheets, sheet) = match &outline.format {
        Format::Workbook { sheets, sheet, .. } => (sheets.clone(), Some(sheet.clone())),
        Format::Text { .. } => (Vec::new(), None),
    };
    let message = lock(&app.notice).take();
    Ok(html(pages::columns(
        &app.csrf,
        &job,
        &outline.headers,
        &chosen,
        &sheets,
        sheet.as_deref(),
        message.as_deref(),
    )))
}

pub(super) async fn set_columns(post: JobPost) -> Answer {
    let JobPost { app, job, form } = post;
    let id = &job.id;
    let country = match form
        .get("country")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(code) => match code.parse() {
            Ok(country) => Some(country),
            Err(e) => {
                *lock(&app.notice) = Some(format!("Country: {e}"));
                return Ok(see(&format!("/jobs/{id}/columns")));
            }
        },
    };
    let mut reading = Reading {
        sheet: form.get("sheet").filter(|s| !s.is_empty()).cloned(),
        encoding: lock(&job.reading).encoding,
        country,
        ..Reading::default()
    };
    for field in Field::ALL {
        let value = form
            .get(&format!("set-{}", field.name()))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        if let Some(value) = value {
            let setting = FieldSetting {
                field,
                value: value.to_string(),
            };
            if let Err(e) = crate::contact::check_setting(&setting, country) {
                *lock(&app.notice) = Some(e);
                return Ok(see(&format!("/jobs/{id}/columns")));
            }
            reading.settings.push(setting);
            continue;
        }
        if let Some(header) = form
            .get(&format!("map-{}", field.name()))
            .filter(|h| !h.is_empty())
        {
            reading.mappings.push(FieldMapping {
                field,
                header: header.clone(),
            });
        }
    }
    *lock(&job.reading) = reading;
    *lock(&job.checked) = None;
    Ok(see(&format!("/jobs/{id}")))
}

pub(super) async fn report(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    download(&job.report(), &job.report(), XLSX).await
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn download(path: &FsPath, named: &FsPath, kind: &'static str) -> Answer {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        refuse(
            StatusCode::NOT_FOUND,
            &format!("{} cannot be read: {e}", crate::term::shown_path(named)),
        )
    })?;
    let name = named
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The name as ASCII (anything else as `_`): a header cannot carry more.
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub(super) async fn send(post: JobPost) -> Answer {
    let JobPost { app, job, form } = post;
    let id = &job.id;
    if let Some(run) = lock(&job.run).as_ref()
        && !*run.ended.borrow()
    {
        return Ok(see(&format!("/jobs/{id}/run")));
    }
    let Some(target) = app.target() else {
        return Ok(see(&format!("/jobs/{id}")));
    };
    let field = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut options = jobs::send_options(&job, target, &app.state_dir);
    let given = (|| -> Result<(), String> {
        options.limit = field("limit")
            .map(|l| {
                l.parse::<u64>()
                    .map_err(|_| format!("the limit '{l}' is not a number"))
            })
            .transpose()?
            .filter(|l| *l > 0);
        let safety = SafetyArgs {
            window: field("window"),
            days: field("days"),
            tz: field("tz"),
            exit_outside_window: false,
            pace: field("pace").map(|p| p.parse()).transpose()?,
            daily_cap: field("daily_cap")
                .map(|c| {
                    c.parse::<u64>()
                        .map_err(|_| format!("'{c}' is not a number"))
                })
                .transpose()?
                .filter(|c| *c > 0),
        };
        options.schedule = crate::cmd::send::schedule(&safety).map_err(|e| e.error.to_string())?;
        Ok(())
    })();
    if let Err(why) = given {
        if let Some(checked) = lock(&job.checked).as_mut() {
            checked.plan_error = Some(why);
        }
        return Ok(see(&format!("/jobs/{id}")));
    }
    // Looked at again and started under one lock: two Sends at once start one run.
    let mut run = lock(&job.run);
    if run.as_ref().is_none_or(|run| *run.ended.borrow()) {
        *lock(&job.delivery) = None;
        *run = Some(jobs::start(options));
    }
    Ok(see(&format!("/jobs/{id}/run")))
}

pub(super) async fn run_page(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    let Some(run) = lock(&job.run).clone() else {
        return Ok(see(&format!("/jobs/{id}")));
    };
    let state = lock(&run.state).clone();
    let delivery = lock(&job.delivery).clone();
    Ok(html(pages::run(
        &app.csrf,
        &job,
        &state,
        delivery.as_ref(),
        job.resume_command(app.sandbox).as_deref(),
    )))
}

/// The run's progress as server-sent events: the state now, then each change; the stream
/// ends once the run has.
pub(super) async fn events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Response> {
    let job = job(&app, &id)?;
    let Some(run) = lock(&job.run).clone() else {
        return Err(refuse(StatusCode::NOT_FOUND, "this file has no run"));
    };
    let updates = run.updates.subscribe();
    let now = lock(&run.state).to_json();
    let stream = futures_util::stream::unfold(
        (Some(now), updates, run, false),
        |(first, mut updates, run, over)| async move {
            if over {
                return None;
            }
            let json = match first {
                Some(json) => json,
                None => match updates.recv().await {
                    Ok(json) => json,
                    // Fell behind: the state as it is now says it all.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        lock(&run.state).to_json()
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
            };
            let finished = lock(&run.state).finished.is_some();
            let event = SseEvent::default().data(json);
            Some((Ok(event), (None, updates, run, finished)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub(super) async fn stop(post: JobPost) -> Answer {
    if let Some(run) = lock(&post.job.run).as_ref() {
        run.cancel.cancel();
    }
    Ok(see(&format!("/jobs/{}/run", post.job.id)))
}

pub(super) async fn status(post: JobPost) -> Answer {
    let JobPost { app, job, .. } = post;
    if let Some(target) = app.status_target() {
        let (asking, state_dir) = (job.clone(), app.state_dir.clone());
        let delivery = blocking(move || jobs::status(&asking, target, &state_dir)).await?;
        *lock(&job.delivery) = Some(delivery);
    }
    Ok(see(&format!("/jobs/{}/run", job.id)))
}

/// Refuses a download of the results while a run writes them: the file on disk is the
/// run's first look, its rows still `pending` (a hostile audit's finding: a tab left on
/// the last run's Results offered it, stale and unmarked).
fn not_while_running(job: &Job) -> Result<(), Response> {
    let running = lock(&job.run)
        .as_ref()
        .is_some_and(|run| !*run.ended.borrow());
    if running {
        return Err(refuse(
            StatusCode::CONFLICT,
            "A run is sending from this file: its results are written when it ends. Download \
             them then, from its Results page.",
        ));
    }
    Ok(())
}

pub(super) async fn results_csv(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    not_while_running(&job)?;
    download(&job.results(), &job.results(), "text/csv; charset=utf-8").await
}

pub(super) async fn results_xlsx(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let job = job(&app, &id)?;
    not_while_running(&job)?;
    let folder = tempfile::tempdir()
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let path = folder.path().join("results.xlsx");
    let (building, into) = (job.clone(), path.clone());
    let built = blocking(move || jobs::results_workbook(&building, &into)).await?;
    built.map_err(|e| refuse(StatusCode::NOT_FOUND, &format!("no results yet: {e}")))?;
    download(&path, &job.results().with_extension("xlsx"), XLSX).await
}

pub(super) async fn credentials(
    State(app): State<Arc<App>>,
    Form(form): Form<HashMap<String, String>>,
) -> Answer {
    csrf(&app, form.get("csrf"))?;
    let value = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let back = value("back");
    // Only one of the page's own addresses.
    let back = if back.starts_with("/jobs/")
        && back.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/')
    {
        back.to_string()
    } else {
        "/".to_string()
    };
    if app.sandbox {
        // A page started with --sandbox sends nowhere else: nothing leaves the machine.
        *lock(&app.notice) = Some(
            "this page was started with --sandbox: it sends to the built-in sandbox only; \
             start `greenbulk ui` without --sandbox to send to an instance"
                .into(),
        );
        return Ok(see(&back));
    }
    // Errors name the form's fields, as the GREEN-API console does.
    let credentials = crate::client::Credentials::named(
        value("api_url"),
        value("id_instance"),
        value("token"),
        crate::client::Names::COLUMNS,
    );
    if let Err(why) = credentials.and_then(|credentials| app.use_credentials(credentials)) {
        *lock(&app.notice) = Some(why);
    }
    Ok(see(&back))
}

pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.css" => (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            include_str!("assets/app.css"),
        )
            .into_response(),
        "app.js" => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            include_str!("assets/app.js"),
        )
            .into_response(),
        _ => refuse(StatusCode::NOT_FOUND, "no such file"),
    }
}
