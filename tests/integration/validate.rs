//! `greenbulk validate`: the samples' exact findings, every error class, and the exit codes.

use crate::util::Workdir;

/// Runs validate with `--report -` and returns (exit code, report lines without header).
fn report_of(dir: &Workdir, file: &str) -> (i32, Vec<String>) {
    let run = dir.run(&["validate", file, "--report", "-"]);
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    let lines = run.stdout.lines().skip(1).map(str::to_string).collect();
    (run.code, lines)
}

/// (row, severity, field) of each report line.
fn findings(lines: &[String]) -> Vec<(String, String, String)> {
    let text = format!("row,severity,field,value,problem\n{}", lines.join("\n"));
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[2].to_string())
        })
        .collect()
}

fn sample(name: &str) -> String {
    format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn triple(row: &str, severity: &str, field: &str) -> (String, String, String) {
    (row.into(), severity.into(), field.into())
}

#[test]
fn sample_contacts_csv() {
    let dir = Workdir::new();
    let (code, lines) = report_of(&dir, &sample("contacts.csv"));
    assert_eq!(code, 3);
    assert_eq!(
        findings(&lines),
        vec![
            triple("5", "error", "phoneContact"),
            triple("6", "error", "firstName/middleName/lastName/company"),
            triple("7", "warning", "row"),
        ]
    );
    assert!(lines[0].contains("scientific notation"), "{lines:?}");
    assert!(lines[2].contains("duplicate of row 2"), "{lines:?}");
}

#[test]
fn sample_crm_export_ru() {
    let dir = Workdir::new();
    let (code, lines) = report_of(&dir, &sample("crm-export-ru.csv"));
    assert_eq!(code, 3);
    assert_eq!(
        findings(&lines),
        vec![
            triple("3", "warning", "phoneContact"),
            triple("4", "error", "phoneContact"),
            triple("5", "error", "phoneContact"),
        ]
    );
    assert!(lines[0].contains("leading 8"), "{lines:?}");
    assert!(lines[1].contains("доб. 12"), "{lines:?}");
    assert!(lines[2].contains("has 10 digits"), "{lines:?}");
}

#[test]
fn sample_contacts_xlsx() {
    let dir = Workdir::new();
    let (code, lines) = report_of(&dir, &sample("contacts.xlsx"));
    assert_eq!(code, 3);
    assert_eq!(
        findings(&lines),
        vec![
            triple("4", "error", "chatId"),
            triple("5", "error", "phoneContact"),
            triple("6", "error", "phoneContact"),
        ]
    );
}

#[test]
fn sample_clean_file_validates_with_exit_0() {
    let dir = Workdir::new();
    let run = dir.run(&["validate", &sample("contacts-clean.csv")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("no errors"), "{run:?}");
}

#[test]
fn every_error_class() {
    let dir = Workdir::new();
    let long_name = "x".repeat(301);
    let rows = [
        // 2: chatId missing
        ",79031234568,Ann".to_string(),
        // 3: chatId malformed
        "79161234567@s.whatsapp.net,79031234568,Ann".to_string(),
        // 4: phoneContact missing
        "79161234567,,Ann".to_string(),
        // 5: letters
        "79161234567,call me,Ann".to_string(),
        // 6: too few digits
        "79161234567,9031234568,Ann".to_string(),
        // 7: too many digits
        "79161234567,7903123456812345,Ann".to_string(),
        // 8: scientific notation, comma decimal
        "79161234567,\"7,90312E+10\",Ann".to_string(),
        // 9: no name at all
        "79161234567,79031234568,".to_string(),
        // 10: a name no name is as long as
        format!("79161234567,79031234568,{long_name}"),
        // 11: fine
        "79161234567,79031234568,Ann".to_string(),
        // 12: exact duplicate of 11
        "79161234567,79031234568,Ann".to_string(),
    ];
    dir.write(
        "all.csv",
        format!("chatId,phoneContact,firstName\n{}\n", rows.join("\n")),
    );
    let (code, lines) = report_of(&dir, "all.csv");
    assert_eq!(code, 3);
    let expected = [
        ("2", "error", "chatId", "is missing"),
        ("3", "error", "chatId", "internal suffix"),
        ("4", "error", "phoneContact", "is missing"),
        ("5", "error", "phoneContact", "contains letters"),
        ("6", "error", "phoneContact", "has 10 digits"),
        ("7", "error", "phoneContact", "has 16 digits"),
        ("8", "error", "phoneContact", "scientific notation"),
        (
            "9",
            "error",
            "firstName/middleName/lastName/company",
            "all empty",
        ),
        ("10", "error", "firstName", "characters long"),
        ("12", "warning", "row", "duplicate of row 11"),
    ];
    let got = findings(&lines);
    assert_eq!(got.len(), expected.len(), "{lines:#?}");
    for ((row, severity, field, text), (line, found)) in expected.iter().zip(lines.iter().zip(&got))
    {
        assert_eq!(found, &triple(row, severity, field), "{line}");
        assert!(line.contains(text), "row {row}: {line}");
    }
}

#[test]
fn phone_numbers_above_the_safe_integer_limit_are_refused_by_digit_count() {
    // 2^53 has 16 digits: the 15-digit maximum keeps every accepted number a safe integer.
    let dir = Workdir::new();
    dir.write(
        "big.csv",
        "chatId,phoneContact,firstName\n79161234567,9007199254740993,Ann\n",
    );
    let (code, lines) = report_of(&dir, "big.csv");
    assert_eq!(code, 3);
    assert!(lines[0].contains("has 16 digits"), "{lines:?}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = Workdir::new();
    dir.write(
        "ok.csv",
        "chatId,phoneContact,firstName\n79161234567,79031234568,Ann\n",
    );
    for args in [
        vec!["validate"],
        vec!["validate", "ok.csv", "--map", "nonsense"],
        vec!["validate", "ok.csv", "--map", "colour=chatId"],
        vec!["frobnicate"],
    ] {
        let run = dir.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

#[test]
fn report_file_lists_every_finding_and_summary_points_to_it() {
    let dir = Workdir::new();
    let mut csv = String::from("chatId,phoneContact,firstName\n");
    for _ in 0..15 {
        csv.push_str("79161234567,123,Ann\n");
    }
    dir.write("many.csv", csv);
    let run = dir.run(&["validate", "many.csv", "--report", "problems.csv"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("… and 5 more in problems.csv"),
        "{run:?}"
    );
    let report = dir.read("problems.csv");
    assert_eq!(report.lines().count(), 16);
    assert!(report.starts_with("row,severity,field,value,problem\n"));
}

#[test]
fn a_body_over_100_kb_is_an_error() {
    let dir = Workdir::new();
    let quoted = "A".repeat(110 * 1024);
    dir.write(
        "big.csv",
        format!(
            "chatId,phoneContact,firstName,quotedMessageId\n79161234567,79031234568,Ann,{quoted}\n"
        ),
    );
    let (code, lines) = report_of(&dir, "big.csv");
    assert_eq!(code, 3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2,error,row,") && l.contains("100 KB")),
        "{lines:?}"
    );
}

/// Numbers as Germans, Swiss and Britons write them (`+49 (0)30 …`): the bracketed trunk 0
/// is not dialled, so it is not sent. It went out inside the number, to nobody.
#[test]
fn a_bracketed_trunk_zero_is_left_out_of_what_is_sent() {
    let dir = Workdir::new();
    dir.write(
        "zero.csv",
        "chatId,phoneContact,firstName\n\
         +49 (0)30 1234570,+49 (0) 151 12345678,Anna\n\
         +44 (0)7911 123456,+44(0)20 7946 0018,Carl\n",
    );
    let (code, lines) = report_of(&dir, "zero.csv");
    assert_eq!(code, 0, "no finding: {lines:?}");
    let sandbox = crate::util::sandbox(crate::util::Faults::default());
    let run = dir.send(
        &sandbox,
        &crate::util::send_args("zero.csv", "out.csv", &[]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = crate::util::read_records(&dir.path("out.csv"));
    let sent: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["chatId"].as_str(), r["phoneContact"].as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            ("49301234570@c.us", "4915112345678"),
            ("447911123456@c.us", "442079460018")
        ]
    );
}

/// `digits@c.us` is a number with its country code: a leading 0 was dropped without a word,
/// and a short code or nine digits went out, as no number written plainly could.
#[test]
fn a_chat_id_written_with_at_c_us_is_judged_as_the_number_it_is() {
    let dir = Workdir::new();
    dir.write(
        "cus.csv",
        "chatId,phoneContact,firstName\n\
         0343938751@c.us,79031234567,A\n\
         343938752@c.us,79031234568,B\n\
         123@c.us,79031234570,C\n\
         00079161234567@c.us,79031234571,D\n\
         79161234567@c.us,79031234572,E\n",
    );
    let (code, lines) = report_of(&dir, "cus.csv");
    assert_eq!(code, 3, "{lines:?}");
    assert_eq!(
        findings(&lines),
        vec![
            triple("2", "error", "chatId"),
            triple("3", "error", "chatId"),
            triple("4", "error", "chatId"),
            triple("5", "error", "chatId"),
        ]
    );
    for mark in ["starts with 0", "9 digits before @c.us", "short code"] {
        assert!(lines.iter().any(|l| l.contains(mark)), "{mark}: {lines:?}");
    }
}

/// `--report` writes every finding: a row with an error also gets its numbers' warnings.
#[test]
fn a_row_with_an_error_still_gets_its_numbers_warnings() {
    let dir = Workdir::new();
    dir.write(
        "w.csv",
        "chatId,phoneContact,firstName\n79161234567,89031234567,\n",
    );
    let (code, lines) = report_of(&dir, "w.csv");
    assert_eq!(code, 3, "{lines:?}");
    assert_eq!(
        findings(&lines),
        vec![
            triple("2", "error", "firstName/middleName/lastName/company"),
            triple("2", "warning", "phoneContact"),
        ]
    );
}
