//! The results file: one line per input row, derived from the input and the ledger, written
//! to a new temporary file beside it and renamed into place, so it is always whole. A write that
//! fails (a full disk) leaves the old file as it was and no temporary file behind.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::contact::{Checked, Severity};
use crate::input::{Row, RowNumber};
use crate::record::ledger::{CardState, Fate, KeyState};
use crate::record::sent::Earlier;
use crate::record::standing::{self, Placement, Standing};
use crate::record::{Delivery, iso_utc};
use crate::replace::Replacement;
use crate::sheet::{Cell, SheetError, SheetWriter, Tone};
use crate::validation::Verdict;

/// The fixed first columns, in order (docs/results.md).
pub const COLUMNS: [&str; 10] = [
    "row",
    "status",
    "idMessage",
    "error",
    "attempts",
    "chatId",
    "phoneContact",
    "delivery",
    "deliveryAt",
    "instance",
];

/// A fixed column, by its place in [`COLUMNS`]: the layout every results line is written in
/// (and arranged in when a file is read back, see [`Layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Row,
    Status,
    IdMessage,
    Error,
    Attempts,
    ChatId,
    PhoneContact,
    Delivery,
    DeliveryAt,
    Instance,
}

impl Column {
    pub(crate) fn at(self) -> usize {
        self as usize
    }
}

/// How a results file read back is laid out: where each fixed column is (found by name:
/// a file written by an earlier greenbulk may lack the later ones), and where its input's
/// columns start.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    fixed: [Option<usize>; COLUMNS.len()],
    input_from: usize,
}

impl Layout {
    /// The layout of a file whose header is `header`: the fixed columns are the run of
    /// fixed names it starts with.
    pub(crate) fn of(header: &[String]) -> Layout {
        let mut fixed = [None; COLUMNS.len()];
        let mut input_from = 0;
        for (at, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}');
            match COLUMNS.iter().position(|c| *c == name) {
                Some(column) if fixed[column].is_none() => fixed[column] = Some(at),
                _ => break,
            }
            input_from = at + 1;
        }
        Layout { fixed, input_from }
    }

    /// A line in the current layout: the fixed columns in [`COLUMNS`]' order (empty where
    /// the file had none), then its input's.
    pub(crate) fn arrange(&self, mut line: Vec<String>) -> Vec<String> {
        let mut arranged: Vec<String> = self
            .fixed
            .iter()
            .map(|at| {
                at.and_then(|at| line.get_mut(at).map(std::mem::take))
                    .unwrap_or_default()
            })
            .collect();
        arranged.extend(line.into_iter().skip(self.input_from));
        arranged
    }
}

/// Where the fixed columns are in a results file's header, found by name (a file written by
/// an earlier greenbulk may lack the later columns, or have them elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResultsHeader {
    pub(crate) row: usize,
    pub(crate) status: usize,
    pub(crate) id_message: usize,
    pub(crate) error: usize,
    pub(crate) chat_id: usize,
    pub(crate) phone_contact: usize,
    /// None in a file written before greenbulk ran on several instances.
    pub(crate) instance: Option<usize>,
    pub(crate) attempts: Option<usize>,
    /// The delivery columns `greenbulk status` fills.
    pub(crate) delivery: Option<usize>,
    pub(crate) delivery_at: Option<usize>,
}

impl ResultsHeader {
    /// The columns of a results file's header, or none if it is not one (its first columns
    /// must be `row,status,idMessage`).
    pub(crate) fn find(header: &[String]) -> Option<ResultsHeader> {
        let at = |name: &str| {
            header
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == name)
        };
        if header.len() < 3 || at("row")? != 0 || at("status")? != 1 || at("idMessage")? != 2 {
            return None;
        }
        Some(ResultsHeader {
            row: 0,
            status: 1,
            id_message: 2,
            error: at("error")?,
            chat_id: at("chatId")?,
            phone_contact: at("phoneContact")?,
            instance: at("instance"),
            attempts: at("attempts"),
            delivery: at("delivery"),
            delivery_at: at("deliveryAt"),
        })
    }
}

/// An input column's name in the results file: ` (input)` appended when it is one of the
/// fixed columns' names, so no results file has two columns of one name.
pub fn input_column(name: &str) -> std::borrow::Cow<'_, str> {
    if COLUMNS.contains(&name) {
        format!("{name} (input)").into()
    } else {
        name.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
    Failed,
    Invalid,
    Duplicate,
    Unknown,
    Pending,
    /// This machine sent the card to the chat from this instance in an earlier run, into
    /// another results file.
    AlreadySent,
}

impl Status {
    pub(crate) const ALL: [Status; 7] = [
        Status::Sent,
        Status::Failed,
        Status::Invalid,
        Status::Duplicate,
        Status::Unknown,
        Status::Pending,
        Status::AlreadySent,
    ];

    pub(crate) fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == text)
    }

    /// The word in the results file's `status` column (docs/results.md).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Unknown => "unknown",
            Status::Pending => "pending",
            Status::AlreadySent => "already-sent",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A results file's counts: of all its lines, and of each instance's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub total: StatusCounts,
    pub by_instance: BTreeMap<String, StatusCounts>,
}

/// How many rows ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub sent: u64,
    pub failed: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub unknown: u64,
    pub pending: u64,
    pub already_sent: u64,
    /// Of the unknown rows, those whose card another run attempted with no answer yet
    /// (counted as the lines are written from the input; 0 for a file rewritten from itself).
    pub unknown_elsewhere: u64,
}

impl StatusCounts {
    fn add(&mut self, status: Status) {
        *match status {
            Status::Sent => &mut self.sent,
            Status::Failed => &mut self.failed,
            Status::Invalid => &mut self.invalid,
            Status::Duplicate => &mut self.duplicate,
            Status::Unknown => &mut self.unknown,
            Status::Pending => &mut self.pending,
            Status::AlreadySent => &mut self.already_sent,
        } += 1;
    }

    /// Rows that still need attention: the run is not complete while any remain.
    pub fn unfinished(&self) -> u64 {
        self.failed + self.unknown + self.pending
    }
}

impl fmt::Display for StatusCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent, {} failed, {} unknown, {} pending, {} invalid, {} duplicate",
            self.sent, self.failed, self.unknown, self.pending, self.invalid, self.duplicate
        )?;
        if self.already_sent > 0 {
            write!(f, ", {} already sent", self.already_sent)?;
        }
        Ok(())
    }
}

/// The status, idMessage, error, attempts, delivery and instance of one row.
#[derive(Clone)]
pub(crate) struct Line {
    pub(crate) status: Status,
    pub(crate) id_message: String,
    pub(crate) error: String,
    pub(crate) attempts: u32,
    pub(crate) delivery: Option<(Delivery, u64)>,
    /// The instance (none: what the line said stays).
    pub(crate) instance: Option<String>,
}

impl Line {
    fn new(status: Status, id_message: &str, error: String, attempts: u32) -> Line {
        Line {
            status,
            id_message: id_message.to_string(),
            error,
            attempts,
            delivery: None,
            instance: None,
        }
    }

    /// Puts this line into a results line's fixed fields (all but `row`, `chatId` and
    /// `phoneContact`; `instance` when the line knows it).
    pub(crate) fn fill(self, fields: &mut [String]) {
        if let Some(instance) = self.instance {
            fields[Column::Instance.at()] = instance;
        }
        fields[Column::Status.at()] = self.status.to_string();
        fields[Column::IdMessage.at()] = self.id_message;
        fields[Column::Error.at()] = self.error;
        fields[Column::Attempts.at()] = self.attempts.to_string();
        let (delivery, at) = match self.delivery {
            Some((state, at)) => (state.to_string(), iso_utc(at)),
            None => (String::new(), String::new()),
        };
        fields[Column::Delivery.at()] = delivery;
        fields[Column::DeliveryAt.at()] = at;
    }
}

/// The line of a sendable row, from what the ledger says of its content.
pub(crate) fn sendable_line(state: Option<&KeyState>) -> Line {
    let line = Line::new;
    let Some(state) = state else {
        return line(Status::Pending, "", String::new(), 0);
    };
    match &state.fate {
        Fate::Sent(id) => {
            let note = if state.copies > 1 {
                format!(
                    "found {} times in GREEN-API's queue and journal: it went out {} times",
                    state.copies, state.copies
                )
            } else {
                String::new()
            };
            Line {
                delivery: state.delivery,
                ..line(Status::Sent, id, note, state.attempts)
            }
        }
        Fate::Failed(e) => line(Status::Failed, "", e.clone(), state.attempts),
        Fate::Unknown(r) => line(Status::Unknown, "", r.clone(), state.attempts),
        Fate::Pending(r) => line(
            Status::Pending,
            "",
            r.clone().unwrap_or_default(),
            state.attempts,
        ),
    }
}

/// The line of a row whose card went out (or may have) from this results file with other
/// names, or was taken back from the results file.
pub(crate) fn card_line(card: &CardState, note: String) -> Line {
    let (status, id) = match card.sent {
        Some(id) => (Status::Sent, id),
        None => (Status::Unknown, ""),
    };
    Line {
        delivery: card.delivery,
        ..Line::new(status, id, note, card.attempts)
    }
}

/// The line of a row whose card this machine sent (or may have) in another run; `here`:
/// from the instance the row goes to in this run.
fn already_sent_line(earlier: &Earlier, here: bool) -> Line {
    let when = iso_utc(earlier.at);
    let results = crate::term::shown(&earlier.results);
    let from = if here {
        "this instance".to_string()
    } else {
        format!("instance {}", earlier.instance)
    };
    let (id, error) = match &earlier.sent {
        Some(Some(id)) => (
            id.as_str(),
            format!("sent from {from} on {when} (results file {results}); --again sends it anyway"),
        ),
        Some(None) => (
            "",
            format!(
                "sent from {from} on {when}; its idMessage is in the results file {results}; \
                 --again sends it anyway"
            ),
        ),
        None => (
            "",
            format!(
                "attempted from {from} on {when} for the results file {results}, with no \
                 answer yet (unknown there): not sent again; `greenbulk status` on that file \
                 looks it up"
            ),
        ),
    };
    // A card in doubt elsewhere is not known to have gone: unknown here too, not sent.
    let status = if earlier.sent.is_some() {
        Status::AlreadySent
    } else {
        Status::Unknown
    };
    Line::new(status, id, error, 0)
}

/// Decides a sendable row's line from where it stands and which instance it names.
pub(crate) fn standing_line(
    row: RowNumber,
    standing: &Standing,
    names: [&str; 4],
    placement: &Placement,
) -> Line {
    let mut line = match &placement.waiting {
        // Told to send it again, and held (the daily cap, the window, its instance): it did
        // not go again, and says why.
        Some(_) if placement.again => Line::new(Status::Pending, "", String::new(), 0),
        _ => standing_only_line(row, standing, names, placement.routed),
    };
    if let Some(waiting) = &placement.waiting
        && line.status == Status::Pending
    {
        line.error.clone_from(waiting);
    }
    line.instance = Some(placement.instance.to_string());
    line
}

fn standing_only_line(row: RowNumber, standing: &Standing, names: [&str; 4], here: bool) -> Line {
    match standing {
        Standing::New => Line::new(Status::Pending, "", String::new(), 0),
        Standing::Recorded(state) => sendable_line(Some(state)),
        Standing::Changed(card) => {
            let changes = standing::changes(card, names);
            let what = if changes.is_empty() {
                "with other names or company".to_string()
            } else {
                format!("as {}", changes.join(", "))
            };
            let sent = if card.sent.is_some() {
                "sent"
            } else {
                "attempted (unknown)"
            };
            let mut line = card_line(
                card,
                format!(
                    "this card was {sent} before, from row {}, {what}: not sent again \
                     (--resend-changed sends the corrected card)",
                    card.row
                ),
            );
            // Its attempts are the other row's: no request went for this one.
            if card.row != row {
                line.attempts = 0;
            }
            line
        }
        Standing::Restored(card) => card_line(
            card,
            if card.sent.is_some() {
                String::new()
            } else {
                "its answer was lost in an earlier run (taken back from the results file)".into()
            },
        ),
        Standing::AlreadySent(earlier) => already_sent_line(earlier, here),
    }
}

/// Decides a row's line from its check, its verdict and, sendable, where it stands and
/// which instance it names.
fn line_for(
    row: RowNumber,
    checked: &Checked,
    verdict: Verdict,
    standing: Option<(&Standing, &Placement)>,
) -> Line {
    let line = Line::new;
    match verdict {
        Verdict::Invalid => {
            let errors: Vec<String> = checked
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| {
                    if f.value.is_empty() {
                        format!("{} {}", f.field, f.problem)
                    } else {
                        format!("{} '{}' {}", f.field, f.value, f.problem)
                    }
                })
                .collect();
            line(Status::Invalid, "", errors.join("; "), 0)
        }
        Verdict::Duplicate { of, .. } => line(
            Status::Duplicate,
            "",
            format!("duplicate of row {of}: sent once, through that row"),
            0,
        ),
        Verdict::Sendable(_) => {
            let request = checked
                .request
                .as_ref()
                .expect("a sendable row has a request");
            let (standing, placement) = standing.expect("a sendable row has a standing");
            standing_line(row, standing, request.names(), placement)
        }
    }
}

/// Where the lines go: a CSV file, or a workbook (`.xlsx`, see [`crate::sheet`]).
enum Sink {
    Csv(Box<csv::Writer<BufWriter<Replacement>>>),
    Xlsx(Box<SheetWriter>, Replacement),
}

/// What a results workbook's `Summary` sheet says besides the counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct About {
    /// Label/value pairs: the input file, its sheet, the rate, when the run started …
    pub(crate) pairs: Vec<(String, String)>,
}

/// A results file being written: lines go to a new temporary file beside `PATH`, which
/// [`ResultsWriter::commit`] makes durable and renames over `PATH` (see [`Replacement`]).
/// Dropped before that, the temporary file is removed and `PATH` is left as it was. A path ending in `.xlsx` gets a workbook: a `Results` sheet
/// with the same columns and a `Summary` sheet.
pub(crate) struct ResultsWriter {
    path: PathBuf,
    /// The temporary file, as a failed write names it.
    temporary: PathBuf,
    /// Taken by [`ResultsWriter::commit`].
    sink: Option<Sink>,
    counts: StatusCounts,
    /// How many rows are in each delivery state (for a workbook's summary).
    deliveries: BTreeMap<String, u64>,
    /// The counts of each instance's lines (by the `instance` column).
    by_instance: BTreeMap<String, StatusCounts>,
    about: About,
    /// The fixed fields of the line being written, kept from row to row.
    fixed: [String; COLUMNS.len()],
}

/// A failed write of the results file, and the file it concerns.
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) path: PathBuf,
    pub(crate) error: std::io::Error,
}

/// The colour of a status cell: sent green, failed and invalid red, unknown and pending
/// amber, duplicate grey.
fn status_tone(status: &str) -> Option<Tone> {
    match Status::parse(status)? {
        Status::Sent => Some(Tone::Good),
        Status::Failed | Status::Invalid => Some(Tone::Bad),
        Status::Unknown | Status::Pending => Some(Tone::Neutral),
        Status::Duplicate | Status::AlreadySent => Some(Tone::Muted),
    }
}

/// The colour of a delivery cell: reached the person green, will not red, on its way amber.
fn delivery_tone(delivery: &str) -> Option<Tone> {
    match delivery {
        "delivered" | "read" => Some(Tone::Good),
        "failed" | "noAccount" | "notInGroup" | "yellowCard" | "expired" => Some(Tone::Bad),
        "queued" | "sent" => Some(Tone::Neutral),
        _ => None,
    }
}

impl ResultsWriter {
    /// Starts a results file with the fixed columns and then the input's own headers.
    pub(crate) fn create(
        path: &Path,
        headers: &csv::StringRecord,
        about: About,
    ) -> Result<Self, WriteError> {
        let header = COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(headers.iter().map(|h| input_column(h).into_owned()));
        ResultsWriter::with_header(path, header, about)
    }

    /// Starts a results file with this header row.
    pub(crate) fn with_header(
        path: &Path,
        header: impl IntoIterator<Item = String>,
        about: About,
    ) -> Result<Self, WriteError> {
        let replacement = Replacement::of(path).map_err(|error| WriteError {
            path: path.to_path_buf(),
            error,
        })?;
        let temporary = replacement.temporary_path().to_path_buf();
        let failed = |error| WriteError {
            path: temporary.clone(),
            error,
        };
        let header: Vec<String> = header.into_iter().collect();
        let workbook =
            crate::sheet::workbook_path(path).map_err(|e| failed(std::io::Error::other(e)))?;
        let sink = if workbook {
            let names: Vec<&str> = header.iter().map(String::as_str).collect();
            let out = replacement.file().try_clone().map_err(failed)?;
            let sheet =
                SheetWriter::new(out, "Results", &names).map_err(|e| failed(e.into_io()))?;
            Sink::Xlsx(Box::new(sheet), replacement)
        } else {
            let mut csv = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::with_capacity(256 * 1024, replacement));
            csv.write_record(&header).map_err(|e| failed(csv_io(e)))?;
            Sink::Csv(Box::new(csv))
        };
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            temporary,
            sink: Some(sink),
            counts: StatusCounts::default(),
            deliveries: BTreeMap::new(),
            by_instance: BTreeMap::new(),
            about,
            fixed: Default::default(),
        })
    }

    /// Adds a line as it stands (its status in the second column), for a results file
    /// rewritten from itself.
    pub(crate) fn line(&mut self, fields: &[String]) -> Result<(), WriteError> {
        self.write(fields.iter().map(String::as_str))
    }

    /// Adds one input row's line. The fixed fields are formatted into buffers kept from row
    /// to row, and the input's cells written straight from the row: nothing is allocated
    /// per row for a row still pending.
    pub(crate) fn row(
        &mut self,
        row: &Row,
        checked: &Checked,
        verdict: Verdict,
        standing: Option<(&Standing, &Placement)>,
    ) -> Result<(), WriteError> {
        use std::fmt::Write as _;
        if let Some((Standing::AlreadySent(earlier), _)) = standing
            && earlier.sent.is_none()
        {
            self.counts.unknown_elsewhere += 1;
        }
        let line = line_for(row.number, checked, verdict, standing);
        let mut fixed = std::mem::take(&mut self.fixed);
        fixed.iter_mut().for_each(String::clear);
        let [
            number,
            status,
            id_message,
            error,
            attempts,
            chat_id,
            phone,
            delivery,
            at,
            instance,
        ] = &mut fixed;
        let _ = write!(number, "{}", row.number);
        let _ = write!(status, "{}", line.status);
        id_message.push_str(&line.id_message);
        error.push_str(&line.error);
        let _ = write!(attempts, "{}", line.attempts);
        if let Some(request) = &checked.request {
            let _ = write!(chat_id, "{}", request.chat_id);
            let _ = write!(phone, "{}", request.phone_contact);
        }
        if let Some((state, when)) = line.delivery {
            let _ = write!(delivery, "{state}");
            at.push_str(&iso_utc(when));
        }
        if let Some(line_instance) = &line.instance {
            instance.push_str(line_instance);
        }
        let written = self.write(fixed.iter().map(String::as_str).chain(row.cells.iter()));
        self.fixed = fixed;
        written
    }

    fn write<'f>(&mut self, fields: impl Iterator<Item = &'f str>) -> Result<(), WriteError> {
        let (counts, deliveries) = (&mut self.counts, &mut self.deliveries);
        let by_instance = &mut self.by_instance;
        let mut status = None;
        let mut fields = fields.enumerate().inspect(|&(column, text)| match column {
            1 => {
                status = Status::parse(text);
                if let Some(status) = status {
                    counts.add(status);
                }
            }
            9 if !text.is_empty() => {
                if let Some(status) = status {
                    match by_instance.get_mut(text) {
                        Some(counts) => counts.add(status),
                        None => {
                            let mut counts = StatusCounts::default();
                            counts.add(status);
                            by_instance.insert(text.to_string(), counts);
                        }
                    }
                }
            }
            7 if !text.is_empty() => match deliveries.get_mut(text) {
                Some(count) => *count += 1,
                None => {
                    deliveries.insert(text.to_string(), 1);
                }
            },
            _ => {}
        });
        let written = match self.sink.as_mut().expect("not committed yet") {
            Sink::Csv(csv) => csv
                .write_record(fields.by_ref().map(|(_, text)| text))
                .map_err(csv_io),
            Sink::Xlsx(sheet, _) => {
                // A row number or a count, as greenbulk writes them: digits (a line edited
                // by hand into something else stays as written).
                fn number(text: &str) -> Cell<'_> {
                    // At most 15 digits: as many as a cell's number holds exactly.
                    let digits = !text.is_empty()
                        && text.len() <= 15
                        && text.bytes().all(|b| b.is_ascii_digit())
                        && (text == "0" || !text.starts_with('0'));
                    match digits.then(|| text.parse::<f64>()) {
                        Some(Ok(n)) => Cell::Number(n),
                        _ => Cell::Text(text),
                    }
                }
                let cells: Vec<Cell> = fields
                    .by_ref()
                    .map(|(column, text)| match column {
                        0 | 4 => number(text),
                        1 => Cell::Toned(text, status_tone(text)),
                        7 => Cell::Toned(text, delivery_tone(text)),
                        _ => Cell::Text(text),
                    })
                    .collect();
                sheet.row(&cells).map_err(SheetError::into_io)
            }
        };
        written.map_err(|e| self.failed(e))
    }

    /// Makes the file durable and puts it in place; returns the counts of its lines.
    pub(crate) fn commit(mut self) -> Result<Counted, WriteError> {
        let replacement = match self.sink.take().expect("not committed yet") {
            Sink::Csv(csv) => csv
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|buffered| buffered.into_inner().map_err(|e| e.into_error())),
            Sink::Xlsx(mut sheet, replacement) => {
                let summary = self.summary();
                sheet
                    .key_values("Summary", &summary)
                    .and_then(|()| sheet.save())
                    .map_err(SheetError::into_io)
                    .map(|()| replacement)
            }
        };
        let replacement = replacement.map_err(|e| self.failed(e))?;
        replacement.place().map_err(|error| WriteError {
            path: self.path.clone(),
            error,
        })?;
        Ok(Counted {
            total: self.counts,
            by_instance: std::mem::take(&mut self.by_instance),
        })
    }

    /// A workbook's `Summary` sheet: what the run was, then rows by status and by delivery.
    fn summary(&self) -> Vec<(String, String)> {
        let mut pairs = self.about.pairs.clone();
        pairs.push(("written".into(), jiff::Timestamp::now().to_string()));
        pairs.push((
            "greenbulk version".into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ));
        pairs.push((String::new(), String::new()));
        let c = &self.counts;
        for (status, count) in [
            (Status::Sent, c.sent),
            (Status::Failed, c.failed),
            (Status::Unknown, c.unknown),
            (Status::Pending, c.pending),
            (Status::Invalid, c.invalid),
            (Status::Duplicate, c.duplicate),
            (Status::AlreadySent, c.already_sent),
        ] {
            pairs.push((format!("rows {status}"), count.to_string()));
        }
        for (delivery, count) in &self.deliveries {
            pairs.push((format!("delivery {delivery}"), count.to_string()));
        }
        pairs
    }

    fn failed(&self, error: std::io::Error) -> WriteError {
        WriteError {
            path: self.temporary.clone(),
            error,
        }
    }
}

fn csv_io(err: csv::Error) -> std::io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}
