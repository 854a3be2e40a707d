//! Excel in, Excel out: results and reports as workbooks, read back with calamine.

use std::io::Read;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::util::{
    Faults, Workdir, assert_no_double_delivery, contacts_csv, sandbox, send_args, wait_until,
    write_raw_ods,
};

/// A sheet of a workbook, cell by cell.
fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut workbook: Xlsx<_> = open_workbook(path).expect("a workbook");
    let range = workbook.worksheet_range(name).expect("the sheet");
    range.rows().map(<[Data]>::to_vec).collect()
}

fn text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => format!("{other:?}"),
    }
}

/// The Summary sheet as label → value.
fn summary(path: &Path) -> std::collections::HashMap<String, String> {
    sheet(path, "Summary")
        .into_iter()
        .filter(|row| row.len() >= 2)
        .map(|row| (text(&row[0]), text(&row[1])))
        .collect()
}

/// A part of the workbook's zip, as text.
fn part(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn a_results_workbook_has_every_row_typed_coloured_and_summed_up() {
    let dir = Workdir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/contacts.xlsx");
    std::fs::copy(sample, dir.path("contacts.xlsx")).unwrap();
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("contacts.xlsx", "results.xlsx", &["--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let path = dir.path("results.xlsx");
    let rows = sheet(&path, "Results");
    let header: Vec<String> = rows[0].iter().map(text).collect();
    assert_eq!(
        header,
        [
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
            "Recipient",
            "Phone",
            "First name",
            "Last name",
            "Company"
        ]
    );
    assert_eq!(rows.len(), 6, "one line per input row");
    let statuses: Vec<String> = rows[1..].iter().map(|r| text(&r[1])).collect();
    assert_eq!(statuses, ["sent", "sent", "invalid", "invalid", "invalid"]);
    for row in &rows[1..] {
        assert!(matches!(row[0], Data::Float(_)), "row numbers are numbers");
        // Phones are text: Excel never shows them as 7.9E+10.
        for column in [5, 6] {
            assert!(
                matches!(&row[column], Data::String(_) | Data::Empty),
                "{row:?}"
            );
        }
    }
    assert_eq!(text(&rows[1][6]), "79031234568");
    let sent: Vec<String> = sandbox
        .outgoing()
        .iter()
        .map(|m| m.id_message.clone())
        .collect();
    assert!(sent.contains(&text(&rows[1][2])));

    let summary = summary(&path);
    assert_eq!(summary["rows sent"], "2");
    assert_eq!(summary["rows invalid"], "3");
    assert_eq!(summary["input file"], "contacts.xlsx");
    assert_eq!(summary["rate"], "50/s");
    assert!(summary.contains_key("started") && summary.contains_key("written"));
    assert_eq!(summary["greenbulk version"], env!("CARGO_PKG_VERSION"));

    let results = part(&path, "xl/worksheets/sheet1.xml");
    assert!(results.contains("state=\"frozen\""), "a frozen header");
    assert!(results.contains("<autoFilter"), "an autofilter");
    assert!(results.contains("<cols>"), "fitted columns");
    let styles = part(&path, "xl/styles.xml");
    assert!(
        styles.contains("FFC6EFCE") && styles.contains("FFFFC7CE"),
        "green and red"
    );
    // The workbook was written whole and put in place: nothing temporary is left.
    let names: Vec<String> = std::fs::read_dir(dir.path("."))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|name| name.contains("tmp")), "{names:?}");
}

#[test]
fn resume_on_a_results_workbook_sends_nothing_twice_and_status_fills_it_in() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(6));
    let sandbox = sandbox(Faults {
        quota: Some(3),
        delay: std::time::Duration::from_millis(50),
        ..Faults::default()
    });
    let args = send_args("in.csv", "out.xlsx", &["--concurrency", "1"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(dir.path("out.xlsx.ledger").exists());
    sandbox.set_faults(Faults {
        delay: std::time::Duration::from_millis(50),
        ..Faults::default()
    });
    let mut resume = args.clone();
    resume.push("--resume");
    let run = dir.send(&sandbox, &resume);
    assert_eq!(run.code, 0, "{run:?}");
    let run = dir.send(&sandbox, &resume);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 6);
    assert_no_double_delivery(&sandbox);
    let rows = sheet(&dir.path("out.xlsx"), "Results");
    assert_eq!(rows.len(), 7);
    assert!(rows[1..].iter().all(|r| text(&r[1]) == "sent"));

    crate::util::wait_until(std::time::Duration::from_secs(10), "all to leave", || {
        sandbox.queue_len() == 0
    });
    let run = dir.status(&sandbox, &["out.xlsx"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let rows = sheet(&dir.path("out.xlsx"), "Results");
    assert_eq!(rows.len(), 7);
    for row in &rows[1..] {
        assert!(!text(&row[7]).is_empty(), "delivery filled in: {row:?}");
        assert_eq!(text(&row[6]), text(&row[11]).replace('+', ""), "{row:?}");
    }
    let summary = summary(&dir.path("out.xlsx"));
    assert_eq!(summary["input file"], "in.csv", "the run's summary is kept");
    assert!(
        summary.keys().any(|k| k.starts_with("delivery ")),
        "{summary:?}"
    );
}

#[test]
fn a_results_workbook_is_written_once_at_the_end_and_a_killed_run_resumes_into_it() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(60));
    let sandbox = sandbox(Faults {
        latency: std::time::Duration::from_millis(100),
        ..Faults::default()
    });
    let flags = ["in.csv", "--results", "out.xlsx", "--rate", "20/s"];
    let mut child = dir.spawn_send(&sandbox, &flags);
    wait_until(
        std::time::Duration::from_secs(30),
        "requests to arrive",
        || sandbox.received().len() >= 10,
    );
    // Mid-run: the ledger records every attempt; the workbook comes at the end.
    assert!(dir.path("out.xlsx.ledger").exists());
    assert!(!dir.path("out.xlsx").exists());
    // status meanwhile: the run holds the files (status --watch would wait for it).
    let run = dir.status(&sandbox, &["out.xlsx"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("right now"), "{run:?}");
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert!(!dir.path("out.xlsx").exists());
    // After the kill: status says how the workbook comes.
    let run = dir.status(&sandbox, &["out.xlsx"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("stopped before its end") && run.stderr.contains("--resume"),
        "{run:?}"
    );
    // A new run on the same path is refused: the ledger is there.
    let run = dir.send(&sandbox, &flags);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--resume"), "{run:?}");
    let mut resumed = flags.to_vec();
    resumed.push("--resume");
    let run = dir.send(&sandbox, &resumed);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert_no_double_delivery(&sandbox);
    let rows = sheet(&dir.path("out.xlsx"), "Results");
    assert_eq!(rows.len(), 61, "a header and every row");
    let sent = rows.iter().filter(|r| text(&r[1]) == "sent").count();
    let unknown = rows.iter().filter(|r| text(&r[1]) == "unknown").count();
    assert_eq!(sent + unknown, 60);
    assert!(sandbox.outgoing().len() >= sent);
}

#[test]
fn a_report_workbook_lists_every_finding() {
    let dir = Workdir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/contacts.csv");
    std::fs::copy(sample, dir.path("contacts.csv")).unwrap();
    let run = dir.run(&["validate", "contacts.csv", "--report", "findings.csv"]);
    assert_eq!(run.code, 3, "{run:?}");
    let run = dir.run(&["validate", "contacts.csv", "--report", "findings.xlsx"]);
    assert_eq!(run.code, 3, "{run:?}");
    let csv = crate::util::read_records(&dir.path("findings.csv"));
    let rows = sheet(&dir.path("findings.xlsx"), "Findings");
    let header: Vec<String> = rows[0].iter().map(text).collect();
    assert_eq!(header, ["row", "severity", "field", "value", "problem"]);
    assert_eq!(rows.len() - 1, csv.len());
    for (row, line) in rows[1..].iter().zip(&csv) {
        assert_eq!(text(&row[0]), line["row"]);
        assert_eq!(text(&row[1]), line["severity"]);
        assert_eq!(text(&row[4]), line["problem"]);
    }
    let part = part(&dir.path("findings.xlsx"), "xl/worksheets/sheet1.xml");
    assert!(part.contains("state=\"frozen\"") && part.contains("<autoFilter"));
}

#[test]
fn workbook_formats_greenbulk_does_not_write_are_refused_with_the_two_choices() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(1));
    for (flag, path) in [("--results", "out.xls"), ("--report", "r.ods")] {
        let run = if flag == "--results" {
            dir.run(&["send", "in.csv", "--results", path, "--sandbox"])
        } else {
            dir.run(&["validate", "in.csv", "--report", path])
        };
        assert_eq!(run.code, 2, "{run:?}");
        let stem = path.split('.').next().unwrap();
        assert!(run.stderr.contains(&format!("{stem}.xlsx")), "{run:?}");
        assert!(run.stderr.contains(&format!("{stem}.csv")), "{run:?}");
    }
}

/// A workbook whose first sheet is empty, or holds instructions: the error names the sheet
/// read and the others, and how to read one. It said the workbook was empty.
#[test]
fn a_first_sheet_without_the_data_names_the_other_sheets() {
    use crate::util::Cell::Text;
    let dir = Workdir::new();
    let data = vec![
        vec![Text("chatId"), Text("phoneContact"), Text("firstName")],
        vec![Text("79161234567"), Text("79031234567"), Text("A")],
    ];
    dir.write_xlsx(
        "empty-first.xlsx",
        &[("Empty", vec![]), ("Data", data.clone())],
    );
    let run = dir.run(&["validate", "empty-first.xlsx"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("sheet 'Empty', is empty")
            && run
                .stderr
                .contains("the workbook also has 'Data': --sheet NAME"),
        "{run:?}"
    );
    let notes = vec![vec![Text("Fill in sheet Data")]];
    dir.write_xlsx("notes-first.xlsx", &[("Notes", notes), ("Data", data)]);
    let run = dir.run(&["validate", "notes-first.xlsx"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no chatId column"), "{run:?}");
    assert!(run.stderr.contains("also has 'Data'"), "{run:?}");
    let run = dir.run(&["validate", "notes-first.xlsx", "--sheet", "Data"]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A sheet filtered down to one city, as a user filters a CRM export to the customers they
/// mean: the rows the filter hides are errors, not sent with the others; `--skip-invalid`
/// sends only the rows shown.
#[test]
fn rows_a_filter_hides_are_errors_and_skip_invalid_sends_only_the_rows_shown() {
    let dir = Workdir::new();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        ("79001000001", "Anna", "Moscow"),
        ("79001000002", "Boris", "Kazan"),
        ("79001000003", "Vera", "Moscow"),
        ("79001000004", "Gleb", "Omsk"),
        ("79001000005", "Daria", "Moscow"),
    ];
    for (c, title) in ["chatId", "phoneContact", "First name", "City"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *title).unwrap();
    }
    for (r, (phone, name, city)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        sheet.write_string(r, 0, "79009990000").unwrap();
        sheet.write_string(r, 1, *phone).unwrap();
        sheet.write_string(r, 2, *name).unwrap();
        sheet.write_string(r, 3, *city).unwrap();
    }
    sheet.autofilter(0, 0, rows.len() as u32, 3).unwrap();
    let moscow = rust_xlsxwriter::FilterCondition::new().add_list_filter("Moscow");
    sheet.filter_column(3, &moscow).unwrap();
    book.save(dir.path("filtered.xlsx")).unwrap();

    let run = dir.run(&["validate", "filtered.xlsx"]);
    assert_eq!(run.code, 3, "{run:?}");
    let summary = &run.stderr;
    assert!(
        summary.contains("row 3: error row is hidden in the sheet")
            && summary.contains("row 5: error row is hidden in the sheet")
            && summary.contains("2 rows hidden in the sheet")
            && !summary.contains("row 2: error")
            && !summary.contains("row 4: error"),
        "{run:?}"
    );

    let sandbox = sandbox(Faults::default());
    let refused = dir.send(&sandbox, &send_args("filtered.xlsx", "refused.csv", &[]));
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(sandbox.received().is_empty(), "nothing may leave");

    let run = dir.send(
        &sandbox,
        &send_args("filtered.xlsx", "results.csv", &["--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut sent: Vec<u64> = sandbox.outgoing().iter().map(|m| m.phone_contact).collect();
    sent.sort_unstable();
    assert_eq!(sent, [79001000001, 79001000003, 79001000005]);
    let results = crate::util::read_records(&dir.path("results.csv"));
    let status: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["row"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("2", "sent"),
            ("3", "invalid"),
            ("4", "sent"),
            ("5", "invalid"),
            ("6", "sent")
        ]
    );
    assert!(
        results[1]["error"].contains("hidden in the sheet"),
        "{results:?}"
    );
}

/// Hidden rows all through a sheet of many blocks (the scan reads it in 64 KB blocks, as
/// calamine reads it): each one is found, and no other.
#[test]
fn every_hidden_row_of_a_long_sheet_is_found_and_no_other() {
    let dir = Workdir::new();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, title) in ["chatId", "phoneContact", "Name"].iter().enumerate() {
        sheet.write_string(0, c as u16, *title).unwrap();
    }
    let mut hidden = Vec::new();
    for r in 1..4000u32 {
        sheet.write_string(r, 0, "79009990000").unwrap();
        sheet
            .write_string(r, 1, format!("7900{:07}", 1_000_000 + r))
            .unwrap();
        sheet
            .write_string(r, 2, format!("Customer number {r} of the list"))
            .unwrap();
        if r % 7 == 3 || (1500..1540).contains(&r) {
            sheet.set_row_hidden(r).unwrap();
            hidden.push((r + 1).to_string());
        }
    }
    // Rows hidden with no cell in them change nothing.
    sheet.set_row_hidden(5000).unwrap();
    book.save(dir.path("long.xlsx")).unwrap();

    let run = dir.run(&["validate", "long.xlsx", "--report", "-"]);
    assert_eq!(run.code, 3, "{run:?}");
    let found: Vec<String> = csv::Reader::from_reader(run.stdout.as_bytes())
        .records()
        .map(Result::unwrap)
        .inspect(|r| assert!(r[4].contains("hidden in the sheet"), "{r:?}"))
        .map(|r| r[0].to_string())
        .collect();
    assert_eq!(found, hidden);
}

/// A sheet written by hand, rows 3 and 5 hidden (5 by a height of 0).
const ROWS_TWO_HIDDEN: &str = concat!(
    r#"<row r="1"><c r="A1" t="inlineStr"><is><t>chatId</t></is></c>"#,
    r#"<c r="B1" t="inlineStr"><is><t>phoneContact</t></is></c>"#,
    r#"<c r="C1" t="inlineStr"><is><t>firstName</t></is></c></row>"#,
    r#"<row r="2"><c r="A2"><v>79009990000</v></c><c r="B2"><v>79001000002</v></c>"#,
    r#"<c r="C2" t="inlineStr"><is><t>Anna</t></is></c></row>"#,
    r#"<row r="3" hidden="1"><c r="A3"><v>79009990000</v></c><c r="B3"><v>79001000003</v></c>"#,
    r#"<c r="C3" t="inlineStr"><is><t>Boris</t></is></c></row>"#,
    r#"<row r="4"><c r="A4"><v>79009990000</v></c><c r="B4"><v>79001000004</v></c>"#,
    r#"<c r="C4" t="inlineStr"><is><t>Vera</t></is></c></row>"#,
    r#"<row r="5" ht="0" customHeight="1"><c r="A5"><v>79009990000</v></c>"#,
    r#"<c r="B5"><v>79001000005</v></c><c r="C5" t="inlineStr"><is><t>Gleb</t></is></c></row>"#,
);

/// A workbook saved under a name without `.xlsx` is read as the XLSX it is, hidden rows
/// found; one whose archive is read whole (no hidden rows looked for) says so rather than
/// send them unsaid.
#[test]
fn hidden_rows_are_found_under_any_file_name_and_said_unlooked_for_where_they_are_not() {
    let dir = Workdir::new();
    for name in ["export", "list.zip"] {
        crate::util::write_raw_xlsx(&dir.path(name), ROWS_TWO_HIDDEN);
        assert_eq!(hidden_rows_validated(&dir, name), ["3", "5"], "{name}");
    }

    // Part names over 1 MB in all: an archive greenbulk reads whole.
    let path = dir.path("long-names.xlsx");
    crate::util::write_raw_xlsx(&path, ROWS_TWO_HIDDEN);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut zip = zip::ZipWriter::new_append(file).unwrap();
    for n in 0..17 {
        let name = format!("docProps/{n}{}", "n".repeat(65_000));
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
    }
    zip.finish().unwrap();
    let run = dir.run(&["validate", "long-names.xlsx"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("4 rows: 4 sendable"), "{run:?}");
    assert!(
        run.stderr.contains(
            "warning: rows hidden in the sheet (by a filter, or by hand) could not be looked for \
             in this workbook"
        ),
        "{run:?}"
    );
}

/// An ODS sheet filtered in LibreOffice: its hidden rows (`table:visibility`, each row tag
/// counted with its repeats, as calamine counts them) are errors as in an XLSX.
#[test]
fn rows_an_ods_filter_hides_are_errors_too() {
    let dir = Workdir::new();
    let row = |visibility: &str, phone: u64, name: &str| {
        format!(
            r#"<table:table-row{visibility}><table:table-cell office:value-type="string"><text:p>79009990000</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>{phone}</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>{name}</text:p></table:table-cell></table:table-row>"#
        )
    };
    let filtered = r#" table:visibility="filter""#;
    let rows = [
        row("", 79001000002, "Anna"),
        row(filtered, 79001000003, "Boris"),
        row("", 79001000004, "Vera"),
        row(r#" table:visibility="collapse""#, 79001000005, "Gleb"),
    ];
    write_raw_ods(&dir.path("filtered.ods"), &rows.concat());

    assert_eq!(hidden_rows_validated(&dir, "filtered.ods"), ["3", "5"]);
}

/// The rows `validate` reports hidden in `file` (it must exit 3, and say no other warning
/// about hidden rows).
fn hidden_rows_validated(dir: &Workdir, file: &str) -> Vec<String> {
    let run = dir.run(&["validate", file, "--report", "-"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("warning: rows hidden"), "{run:?}");
    run.stdout
        .lines()
        .filter(|line| line.contains("hidden in the sheet"))
        .map(|line| line.split(',').next().unwrap().to_string())
        .collect()
}

/// Rows hidden once their cards went (a user marking what is done): still errors, so
/// `--resume` asks for `--skip-invalid`; with it, the hidden row is `invalid` and its card
/// keeps its line ("no longer in the input"), idMessage and all; a hidden row is never sent,
/// not even with `--again`.
#[test]
fn a_hidden_row_whose_card_went_is_never_sent_again_and_its_card_keeps_its_line() {
    let dir = Workdir::new();
    let write = |hidden: bool, rows: u32| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, title) in ["chatId", "phoneContact", "firstName"].iter().enumerate() {
            sheet.write_string(0, c as u16, *title).unwrap();
        }
        for r in 1..=rows {
            sheet.write_string(r, 0, "79009990000").unwrap();
            sheet.write_string(r, 1, format!("7900100000{r}")).unwrap();
            sheet.write_string(r, 2, format!("Name {r}")).unwrap();
        }
        if hidden {
            sheet.set_row_hidden(2).unwrap();
        }
        book.save(dir.path("list.xlsx")).unwrap();
    };
    let sandbox = sandbox(Faults::default());
    write(false, 3);
    let run = dir.send(&sandbox, &send_args("list.xlsx", "results.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let first = crate::util::read_records(&dir.path("results.csv"));
    let row_3 = first[1]["idMessage"].clone();

    // Row 3 (sent) hidden, row 5 added.
    write(true, 4);
    let resume = ["--resume"];
    let run = dir.send(&sandbox, &send_args("list.xlsx", "results.csv", &resume));
    assert_eq!(run.code, 3, "{run:?}");
    let run = dir.send(
        &sandbox,
        &send_args("list.xlsx", "results.csv", &["--resume", "--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines = crate::util::read_records(&dir.path("results.csv"));
    let status: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["row"].as_str(),
                l["status"].as_str(),
                l["idMessage"].as_str(),
            )
        })
        .collect();
    assert_eq!(status[1], ("3", "invalid", ""), "{lines:?}");
    assert_eq!(status[4], ("3", "sent", row_3.as_str()), "{lines:?}");
    assert!(
        lines[4]["error"].starts_with("no longer in the input"),
        "{lines:?}"
    );
    assert_eq!(sandbox.outgoing().len(), 4, "row 5 only, the second time");

    let run = dir.send(
        &sandbox,
        &send_args("list.xlsx", "again.csv", &["--again", "--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let to_row_3 = sandbox
        .outgoing()
        .iter()
        .filter(|m| m.phone_contact == 79001000002)
        .count();
    assert_eq!(to_row_3, 1, "never again");
    assert_eq!(sandbox.outgoing().len(), 7, "rows 2, 4 and 5 again");
}

/// A hidden copy of a row shown above it is a `duplicate` (sent once, through that row),
/// not an error; a hidden row above its shown copy is the error, and the copy is sent.
#[test]
fn a_hidden_copy_of_a_shown_row_is_a_duplicate_and_a_hidden_first_leaves_its_copy_the_first() {
    let dir = Workdir::new();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        ["chatId", "phoneContact", "firstName"],
        ["79009990000", "79001000002", "Anna"],
        ["79009990000", "79001000003", "Boris"],
        ["79009990000", "79001000002", "Anna"],
        ["79009990000", "79001000003", "Boris"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    // Row 3 (Boris, first) and row 4 (Anna's copy) hidden.
    sheet.set_row_hidden(2).unwrap();
    sheet.set_row_hidden(3).unwrap();
    book.save(dir.path("copies.xlsx")).unwrap();
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("copies.xlsx", "results.csv", &["--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("1 row hidden in the sheet"), "{run:?}");
    let status: Vec<String> = crate::util::read_records(&dir.path("results.csv"))
        .iter()
        .map(|l| format!("{} {}", l["row"], l["status"]))
        .collect();
    assert_eq!(status, ["2 sent", "3 invalid", "4 duplicate", "5 sent"]);
    assert_eq!(sandbox.outgoing().len(), 2);
}
