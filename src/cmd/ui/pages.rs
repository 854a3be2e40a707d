//! The page's HTML, one function a step, escaped by construction (maud). Plain forms that
//! work without a script; the one script (assets/app.js) only follows a run's progress and
//! takes a dropped file. Accessible names are the contract the browser test relies on: the
//! file input `Spreadsheet`; buttons `Check`, `Send`, `Stop`; the table caption `Problems`;
//! the link `Download results`; progress in a live region.

use maud::{DOCTYPE, Markup, html};

use super::jobs::{Checked, Delivery, Job, PROBLEMS_SHOWN, RunState};
use crate::cmd::words::{grouped, human, plural};
use crate::input::Field;
use crate::lock;

/// The steps, as the header shows them.
const STEPS: [&str; 6] = ["Upload", "Columns", "Check", "Plan", "Send", "Results"];

/// A whole page: the header with the steps (the current one marked), and `body`.
pub(super) fn layout(title: &str, step: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — greenbulk" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header {
                    a.home href="/" { "greenbulk" }
                    nav aria-label="Steps" {
                        ol {
                            @for name in STEPS {
                                @if name == step {
                                    li aria-current="step" { (name) }
                                } @else {
                                    li { (name) }
                                }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Why nothing can be sent while a row holds what looks like other rows (a quote left open):
/// the rows inside it would go unsent and unlisted.
pub(super) const SWALLOWING_WORDS: &str = "A quote left open in the file swallowed rows: a \
    cell holds a line break followed by what looks like another row. Close or remove the \
    stray quote in the file and upload it again; until then nothing can be sent, since the \
    rows inside that cell would be neither sent nor listed.";

/// The CSRF token every form carries.
fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// Step 1: a file, uploaded or already in the folder (`files`, newest first).
pub(super) fn upload(csrf_token: &str, files: &[String], error: Option<&str>, dir: &str) -> Markup {
    layout(
        "Upload",
        "Upload",
        html! {
            h1 { "Send a contact card to every row of a spreadsheet" }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.drop method="post" action="/upload" enctype="multipart/form-data" {
                (csrf(csrf_token))
                label for="file" { "Spreadsheet" }
                input #file type="file" name="file" required
                    accept=".csv,.tsv,.txt,.xlsx,.xlsm,.xls,.xlsb,.ods";
                p.hint { "CSV, or an Excel or LibreOffice workbook; drop it here or choose it. It is kept in " code { (dir) } "." }
                button type="submit" { "Check" }
            }
            @if !files.is_empty() {
                h2 { "Or a file already in the folder" }
                (opening(csrf_token, &files[..files.len().min(NEWEST_SHOWN)]))
                @if files.len() > NEWEST_SHOWN {
                    details {
                        summary { (plural((files.len() - NEWEST_SHOWN) as u64, "older file", "older files")) }
                        (opening(csrf_token, &files[NEWEST_SHOWN..]))
                    }
                }
            }
        },
    )
}

/// How many of the folder's files the first page lists before "older files".
const NEWEST_SHOWN: usize = 20;

/// A button to open each of `files`.
fn opening(csrf_token: &str, files: &[String]) -> Markup {
    html! {
        ul.recent {
            @for name in files {
                li {
                    form method="post" action="/open" {
                        (csrf(csrf_token))
                        input type="hidden" name="name" value=(name);
                        button type="submit" aria-label={ "Open " (name) } { "Open" }
                        " " (name)
                    }
                }
            }
        }
    }
}

/// Step 2: which column is which field, or a value for every row.
pub(super) fn columns(
    csrf_token: &str,
    job: &Job,
    headers: &[String],
    chosen: &[(Field, Option<String>, Option<String>)],
    sheets: &[String],
    sheet: Option<&str>,
    message: Option<&str>,
) -> Markup {
    layout(
        "Columns",
        "Columns",
        html! {
            h1 { "Which column is which" }
            p { "File: " strong { (job.name) } }
            @if let Some(message) = message {
                p.error role="alert" { (message) }
            }
            form method="post" action={ "/jobs/" (job.id) "/columns" } {
                (csrf(csrf_token))
                @if sheets.len() > 1 {
                    label for="sheet" { "Sheet" }
                    select #sheet name="sheet" {
                        @for name in sheets {
                            option value=(name) selected[Some(name.as_str()) == sheet] { (name) }
                        }
                    }
                }
                table.fields {
                    caption { "Fields" }
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Column" } th scope="col" { "Or this value on every row" } } }
                    tbody {
                        @for (field, column, value) in chosen {
                            tr {
                                th scope="row" { label for={ "map-" (field.name()) } { (field.name()) } }
                                td {
                                    select id={ "map-" (field.name()) } name={ "map-" (field.name()) } {
                                        option value="" selected[column.is_none()] { "(none)" }
                                        @for header in headers {
                                            option value=(header) selected[column.as_deref() == Some(header.as_str())] { (header) }
                                        }
                                    }
                                }
                                td {
                                    input type="text" name={ "set-" (field.name()) }
                                        aria-label={ (field.name()) " on every row" }
                                        value=(value.clone().unwrap_or_default());
                                }
                            }
                        }
                    }
                }
                label for="country" { "Country of numbers written without a country code (e.g. MG, RU)" }
                input #country type="text" name="country" maxlength="2" size="3" autocomplete="off"
                    value=(lock(&job.reading).country.map(|c| c.to_string()).unwrap_or_default());
                button type="submit" { "Check" }
            }
        },
    )
}

/// Step 3 and 4: what is wrong, where, and what sending would do.
pub(super) fn check(
    csrf_token: &str,
    job: &Job,
    checked: &Checked,
    target: Option<&str>,
    typed_in: bool,
    resume: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let tally = &checked.tally;
    layout(
        "Check",
        "Check",
        html! {
            h1 { "Check: " (job.name) }
            @if let Some(notice) = notice {
                p.error role="alert" { (notice) }
            }
            p { (checked.format) }
            p.columns { "Columns: " (checked.columns.join(", ")) " " a href={ "/jobs/" (job.id) "/columns" } { "change" } }
            @for warning in &checked.warnings { p.warning { (warning) } }
            dl.counts {
                dt { "Rows" } dd { (grouped(tally.rows)) }
                dt { "Can be sent" } dd { (grouped(tally.sendable)) }
                dt { "With problems" } dd { (grouped(tally.invalid)) }
                dt { "Duplicates (sent once)" } dd { (grouped(tally.duplicates)) }
            }
            @if let Some(line) = crate::report::country_line(tally) {
                p.country { (line) }
            }
            @if tally.hidden > 0 {
                p.error {
                    (grouped(tally.hidden)) @if tally.hidden == 1 { " row is" } @else { " rows are" }
                    " hidden in the sheet (by a filter, or by hand), and not sent unless shown: \
                     show them in Excel, save, and check the file again — or send the others."
                }
            }
            @if checked.problems.is_empty() {
                p.ok { "No row has a problem." }
            } @else {
                (problems(checked))
                @if checked.report {
                    p { a href={ "/jobs/" (job.id) "/report.xlsx" } { "Every finding, as a workbook" } }
                }
            }
            h2 { "Plan" }
            @match target {
                Some(target) => {
                    p { "Sending to " (target) "." }
                    // Typed into the page: it may be typed again (a mistyped token), open
                    // when the instance could not be asked.
                    @if typed_in {
                        details open[checked.plan_error.is_some()] {
                            summary { "Another instance" }
                            (credentials(csrf_token, &job.id))
                        }
                    }
                }
                None => (credentials(csrf_token, &job.id)),
            }
            @for line in &checked.plan { p.plan { (line) } }
            @if let Some(error) = &checked.plan_error { p.error role="alert" { (error) } }
            @if target.is_some() {
                form method="post" action={ "/jobs/" (job.id) "/send" } {
                    (csrf(csrf_token))
                    @if tally.swallowing > 0 {
                        p.error { (SWALLOWING_WORDS) }
                    } @else if tally.invalid > 0 {
                        p { "The " (plural(tally.invalid, "row", "rows")) " with problems " (if tally.invalid == 1 { "is" } else { "are" }) " skipped: fix them in the file and send again to send them too (nothing already sent goes again)." }
                    }
                    details {
                        summary { "Options" }
                        label for="limit" { "At most this many rows now" }
                        input #limit type="number" name="limit" min="1";
                        label for="window" { "Sending hours (HH:MM-HH:MM)" }
                        input #window type="text" name="window" placeholder="09:00-18:00";
                        label for="days" { "Days" }
                        input #days type="text" name="days" placeholder="mon-fri";
                        label for="tz" { "Time zone" }
                        input #tz type="text" name="tz" placeholder="Europe/Moscow";
                        label for="pace" { "One card every (MIN..MAX)" }
                        input #pace type="text" name="pace" placeholder="8s..20s";
                        label for="cap" { "At most this many a day" }
                        input #cap type="number" name="daily_cap" min="1";
                    }
                    button type="submit" disabled[!tally.skippable()] { "Send" }
                }
                @if let Some(resume) = resume {
                    p.hint { "In a terminal, the same run: " code { (resume) } }
                }
            }
        },
    )
}

/// The rows with problems, as the spreadsheet numbers them: every column, the failing cells
/// marked with what is wrong.
fn problems(checked: &Checked) -> Markup {
    let shown = checked.problems.len();
    html! {
        table.problems {
            caption { "Problems" }
            thead {
                tr {
                    th scope="col" { "Row" }
                    @for header in &checked.headers { th scope="col" { (header) } }
                    th scope="col" { "Also wrong" }
                }
            }
            tbody {
                @for problem in &checked.problems {
                    tr {
                        th scope="row" { (problem.row) }
                        @for (column, cell) in problem.cells.iter().enumerate() {
                            @let marks: Vec<&str> = problem.marks.iter().filter(|(c, _)| *c == column).map(|(_, m)| m.as_str()).collect();
                            @if marks.is_empty() {
                                td { (cell) }
                            } @else {
                                td.bad { (cell) span.why { (marks.join("; ")) } }
                            }
                        }
                        td {
                            @for message in &problem.other { (message) br; }
                        }
                    }
                }
            }
        }
        @if checked.columns_left_out > 0 {
            p.hint { "The columns read for the card and the first others: " (grouped(checked.columns_left_out as u64)) " more are left out here." }
        }
        @if checked.tally.invalid > shown as u64 {
            p.hint { "The first " (PROBLEMS_SHOWN) " of " (grouped(checked.tally.invalid)) " rows with problems." }
        }
    }
}

/// The credentials form, when greenbulk ui was given none: kept in memory, never shown again.
fn credentials(csrf_token: &str, job: &str) -> Markup {
    html! {
        form method="post" action="/credentials" {
            (csrf(csrf_token))
            input type="hidden" name="back" value={ "/jobs/" (job) };
            p { "The instance to send from (from the GREEN-API console; kept in this program's memory only)." }
            label for="api_url" { "apiUrl" }
            input #api_url type="url" name="api_url" required placeholder="https://7103.api.greenapi.com";
            label for="id_instance" { "idInstance" }
            input #id_instance type="text" name="id_instance" required inputmode="numeric";
            label for="token" { "apiTokenInstance" }
            input #token type="password" name="token" required autocomplete="off";
            button type="submit" { "Use this instance" }
        }
    }
}

/// Steps 5 and 6: the run's progress, then its results and what became of them.
pub(super) fn run(
    csrf_token: &str,
    job: &Job,
    state: &RunState,
    delivery: Option<&Delivery>,
    resume: Option<&str>,
) -> Markup {
    let done = state.sent + state.failed + state.unknown + state.taken;
    let step = if state.finished.is_some() {
        "Results"
    } else {
        "Send"
    };
    layout(
        step,
        step,
        html! {
            h1 { (step) ": " (job.name) }
            div #progress role="status" aria-live="polite" data-events={ "/jobs/" (job.id) "/events" } data-finished=(state.finished.is_some()) {
                progress #bar max=(state.total.max(1)) value=(done) { (done) " of " (state.total) }
                p #counts {
                    (grouped(done)) " of " (grouped(state.total)) " rows: " (state.sent) " sent, "
                    (state.failed) " failed, " (state.unknown) " unknown"
                    @if state.retries > 0 { ", " (state.retries) " retries" }
                }
                ul #last { @for (row, what) in &state.last { li { "row " (row) ": " (what) } } }
            }
            @for line in &state.lines { p.plan { (line) } }
            @match &state.finished {
                None => {
                    form method="post" action={ "/jobs/" (job.id) "/stop" } {
                        (csrf(csrf_token))
                        button type="submit" { "Stop" }
                    }
                    p.hint {
                        "Closing this page does not stop the run. Stop finishes the requests in flight and keeps everything: Send again"
                        @if let Some(resume) = resume {
                            ", or " code { (resume) } ","
                        }
                        " goes on where it stopped."
                    }
                    noscript { p { a href={ "/jobs/" (job.id) "/run" } { "Refresh" } } }
                }
                Some(ended) => {
                    @if let Some(stopped) = &ended.stopped { p.error role="alert" { (stopped) } }
                    @if let Some(counts) = &ended.counts {
                        p.ok { (counts.to_string()) }
                        p.hint { "“Sent” means accepted into the instance's queue; what became of each card is below." }
                    }
                    @if ended.results {
                        p { a.download href={ "/jobs/" (job.id) "/results.xlsx" } download { "Download results" } " (" a href={ "/jobs/" (job.id) "/results.csv" } download { "CSV" } ")" }
                        h2 { "What became of them" }
                        @if let Some(delivery) = delivery {
                            @if let Some(error) = &delivery.error { p.error role="alert" { (error) } }
                            @if !delivery.states.is_empty() {
                                table.delivery {
                                    caption { "Delivery" }
                                    thead { tr { th scope="col" { "State" } th scope="col" { "Cards" } } }
                                    tbody { @for (state, count) in &delivery.states { tr { th scope="row" { (state) } td { (grouped(*count)) } } } }
                                }
                            }
                        }
                        form method="post" action={ "/jobs/" (job.id) "/status" } {
                            (csrf(csrf_token))
                            button type="submit" { "Look again" }
                        }
                    }
                    form method="post" action={ "/jobs/" (job.id) "/send" } {
                        (csrf(csrf_token))
                        button type="submit" { "Send again" }
                    }
                    @if let Some(resume) = resume {
                        p.hint { "In a terminal: " code { (resume) } }
                    }
                }
            }
            @if state.finished.is_none() && done > 0 {
                @let elapsed = state.started.elapsed();
                p.hint { "Running for " (human(elapsed)) "." }
            }
        },
    )
}
