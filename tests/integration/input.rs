//! Reading real exports: encodings, dialects, workbooks, and inputs that must not panic.

use crate::util::{Cell, Workdir, read_records};

const ROWS: &str = "chatId;phoneContact;firstName;lastName\n\
                    79161234567;79031234568;Иван;Петров\n\
                    79161234568;79031234569;Мария;Смирнова\n";

/// Validates `file` with a report and returns (exit code, stderr, report rows).
fn validate(dir: &Workdir, file: &str, extra: &[&str]) -> (i32, String, Vec<Vec<String>>) {
    let mut args = vec!["validate", file, "--report", "report.csv"];
    args.extend_from_slice(extra);
    let run = dir.run(&args);
    let report = if dir.path("report.csv").exists() {
        let mut reader = csv::Reader::from_path(dir.path("report.csv")).unwrap();
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    } else {
        Vec::new()
    };
    (run.code, run.stderr, report)
}

#[test]
fn utf8_with_and_without_bom() {
    let dir = Workdir::new();
    dir.write("plain.csv", ROWS);
    dir.write(
        "bom.csv",
        [b"\xEF\xBB\xBF".as_slice(), ROWS.as_bytes()].concat(),
    );
    for file in ["plain.csv", "bom.csv"] {
        let (code, stderr, report) = validate(&dir, file, &[]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(report.is_empty(), "{file}: {report:?}");
        assert!(stderr.contains("2 rows: 2 sendable"), "{stderr}");
    }
    let (_, stderr, _) = validate(&dir, "bom.csv", &[]);
    assert!(
        stderr.contains("UTF-8 with BOM, semicolon-separated"),
        "{stderr}"
    );
}

#[test]
fn utf16le_with_bom() {
    let dir = Workdir::new();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in ROWS.replace(';', "\t").encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    dir.write("utf16.txt", bytes);
    let (code, stderr, _) = validate(&dir, "utf16.txt", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("UTF-16LE, tab-separated"), "{stderr}");
    assert!(stderr.contains("2 rows: 2 sendable"), "{stderr}");
}

#[test]
fn windows_1251_with_semicolons_is_detected() {
    let dir = Workdir::new();
    let text = "Получатель;Телефон;Фамилия;Имя\r\n\
                79161234567;+7 903 123-45-68;Иванов;Иван\r\n\
                79161234568;+7 903 123-45-69;Смирнова;Мария\r\n\
                79161234569;bad;Кузнецова;Анна\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
    dir.write("ru.csv", bytes.as_ref());
    let (code, stderr, report) = validate(&dir, "ru.csv", &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("windows-1251, semicolon-separated"),
        "{stderr}"
    );
    assert!(stderr.contains("lastName ← 'Фамилия'"), "{stderr}");
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0][0], "4");
    assert_eq!(report[0][2], "phoneContact");
}

#[test]
fn windows_1252_with_commas_is_detected() {
    let dir = Workdir::new();
    let text = "chatId,phoneContact,firstName,lastName,company\n\
                33612345678,33698765432,Amélie,Lefèvre,Café Crème\n\
                33612345679,33698765433,Zoë,Müller,Straße & Söhne\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    dir.write("fr.csv", bytes.as_ref());
    let run = dir.run(&["validate", "fr.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("windows-1252, comma-separated"),
        "{run:?}"
    );
    // The names arrive intact in the results of a send (checked in send tests); here, no
    // decoding warnings.
    assert!(!run.stderr.contains("could not be decoded"), "{run:?}");
}

#[test]
fn encoding_flag_overrides_detection() {
    let dir = Workdir::new();
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(ROWS);
    dir.write("ru.csv", bytes.as_ref());
    let run = dir.run(&["validate", "ru.csv", "--encoding", "koi8-r"]);
    assert!(run.stderr.contains("KOI8-R"), "{run:?}");
    let run = dir.run(&["validate", "ru.csv", "--encoding", "klingon"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown encoding 'klingon'"), "{run:?}");
}

#[test]
fn quoted_cells_with_delimiters_quotes_and_newlines_are_one_cell() {
    let dir = Workdir::new();
    dir.write(
        "quoted.csv",
        "chatId,phoneContact,firstName,company\n\
         79161234567,79031234568,Ann,\"Smith, Jones & \"\"Partners\"\"\nLondon office\"\n\
         79161234568,79031234569,Bob,Plain\n",
    );
    let (code, stderr, _) = validate(&dir, "quoted.csv", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 rows: 2 sendable"), "{stderr}");
}

#[test]
fn header_with_stray_spaces_and_sep_line() {
    let dir = Workdir::new();
    dir.write(
        "excel.csv",
        "sep=;\n Chat ID ; Phone Contact ;  First_Name \n79161234567;79031234568;Ann\n",
    );
    let (code, stderr, _) = validate(&dir, "excel.csv", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("chatId ← 'Chat ID'"), "{stderr}");
    assert!(stderr.contains("header on row 1"), "{stderr}");
}

#[test]
fn tab_and_pipe_delimiters() {
    let dir = Workdir::new();
    dir.write("t.tsv", ROWS.replace(';', "\t"));
    dir.write("p.txt", ROWS.replace(';', "|"));
    for (file, name) in [("t.tsv", "tab"), ("p.txt", "pipe")] {
        let (code, stderr, _) = validate(&dir, file, &[]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains(&format!("{name}-separated")), "{stderr}");
    }
}

#[test]
fn row_numbers_count_the_header_as_one_and_skip_blank_rows() {
    let dir = Workdir::new();
    dir.write(
        "gaps.csv",
        ",,,\nchatId,phoneContact,firstName,lastName\n79161234567,79031234568,Ann,\n,,,\n\
         79161234568,123,Bob,\n",
    );
    let (code, _, report) = validate(&dir, "gaps.csv", &[]);
    assert_eq!(code, 3);
    // The blank record before the header is not counted; the header is row 1, the blank
    // record after Ann is row 3, so Bob is row 4.
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0][0], "4");
}

#[test]
fn ragged_rows_are_read_and_extra_cells_flagged() {
    let dir = Workdir::new();
    dir.write(
        "ragged.csv",
        "chatId,phoneContact,firstName,lastName\n79161234567,79031234568,Ann\n\
         79161234568,79031234569,Bob,Brown,extra\n",
    );
    let (code, _, report) = validate(&dir, "ragged.csv", &[]);
    assert_eq!(code, 0);
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0][..3], ["3", "warning", "row"]);
    assert!(report[0][4].contains("5 cells but the header has 4"));
}

#[test]
fn xlsx_numeric_and_text_phones_and_a_chosen_sheet() {
    let dir = Workdir::new();
    let contacts = vec![
        vec![
            Cell::Text("Recipient"),
            Cell::Text("Phone"),
            Cell::Text("Name"),
        ],
        vec![
            Cell::Number(79161234567.0),
            Cell::Number(79031234568.0),
            Cell::Text("Ann"),
        ],
        vec![
            Cell::Text("+7 916 123-45-68"),
            Cell::Text("+7 903 123-45-69"),
            Cell::Text("Bob"),
        ],
        vec![Cell::Empty, Cell::Empty, Cell::Empty],
        vec![
            Cell::Text("79161234569"),
            Cell::Number(7.9e10),
            Cell::Text("Cy"),
        ],
    ];
    let notes = vec![vec![Cell::Text("not contacts")]];
    dir.write_xlsx("book.xlsx", &[("Notes", notes), ("Contacts", contacts)]);
    // The first sheet has no contact columns: the error names its headers.
    let run = dir.run(&["validate", "book.xlsx"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no chatId column"), "{run:?}");
    assert!(run.stderr.contains("'not contacts'"), "{run:?}");

    let (code, stderr, report) = validate(&dir, "book.xlsx", &["--sheet", "Contacts"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sheet 'Contacts'"), "{stderr}");
    assert!(stderr.contains("3 rows: 3 sendable"), "{stderr}");
    assert!(report.iter().all(|r| r[1] == "warning"), "{report:?}");

    let run = dir.run(&["validate", "book.xlsx", "--sheet", "Missing"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("no sheet named 'Missing'; its sheets are: 'Notes', 'Contacts'"),
        "{run:?}"
    );
}

#[test]
fn xlsx_phones_are_sent_as_exact_digits() {
    let dir = Workdir::new();
    dir.write_xlsx(
        "book.xlsx",
        &[(
            "Sheet1",
            vec![
                vec![
                    Cell::Text("chatId"),
                    Cell::Text("phoneContact"),
                    Cell::Text("firstName"),
                ],
                vec![
                    Cell::Number(79161234567.0),
                    Cell::Number(79031234568.0),
                    Cell::Text("Ann"),
                ],
            ],
        )],
    );
    let run = dir.run(&["send", "book.xlsx", "--sandbox", "--results", "out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["chatId"], "79161234567@c.us");
    assert_eq!(rows[0]["phoneContact"], "79031234568");
}

#[test]
fn bad_inputs_are_one_clear_error_never_a_panic() {
    let dir = Workdir::new();
    dir.write("empty.csv", "");
    dir.write("header-only.csv", "chatId,phoneContact,firstName\n");
    dir.write("garbage.xlsx", [0x13u8, 0x37, 0xff, 0x00, 0x42].repeat(50));
    dir.write("zero.xlsx", "");
    dir.write("broken.xlsx", b"PK\x03\x04this is not really a zip file");
    dir.write("nochat.csv", "phone,name\n79031234568,Ann\n");
    let cases: [(&str, i32, &str); 7] = [
        ("empty.csv", 2, "empty.csv is empty"),
        ("header-only.csv", 0, "0 rows"),
        ("garbage.xlsx", 2, "is not a readable"),
        ("zero.xlsx", 2, "The file is empty"),
        ("broken.xlsx", 2, "damaged or password-protected"),
        (
            "nochat.csv",
            2,
            "it is not clear which phone column is the chat",
        ),
        ("missing.csv", 2, "cannot read missing.csv"),
    ];
    for (file, code, message) in cases {
        let run = dir.run(&["validate", file]);
        assert_eq!(run.code, code, "{file}: {run:?}");
        assert!(run.stderr.contains(message), "{file}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{file}: {run:?}");
        // One line; the phone-column question also shows the commands that answer it.
        if code == 2 && file != "nochat.csv" {
            assert_eq!(
                run.stderr.lines().count(),
                1,
                "{file}: one line expected: {run:?}"
            );
        }
    }
}

#[test]
fn map_flag_picks_a_column_and_rejects_a_missing_one() {
    let dir = Workdir::new();
    dir.write(
        "m.csv",
        "To,Mobile,Home,Who\n79161234567,79031234568,79031234569,Ann\n",
    );
    let run = dir.run(&[
        "validate",
        "m.csv",
        "--map",
        "phoneContact=Home",
        "--map",
        "firstName=Who",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("phoneContact ← 'Home' (--map)"),
        "{run:?}"
    );
    let run = dir.run(&["validate", "m.csv", "--map", "phoneContact=Work"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("there is no column 'Work'"), "{run:?}");
    assert!(
        run.stderr.contains("'To', 'Mobile', 'Home', 'Who'"),
        "{run:?}"
    );
}

/// Two columns of one name: `validate` suggests `--map chatId=Phone --map phoneContact=Phone`,
/// and that command must do what it says: each --map takes the next column of the name.
/// Both took the first, and the card went to the person it describes.
#[test]
fn columns_of_one_name_are_mapped_in_order() {
    let dir = Workdir::new();
    dir.write("two.csv", "Phone,Phone,Name\n79161234567,79031234567,A\n");
    let run = dir.run(&["validate", "two.csv"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("--map chatId=Phone --map phoneContact=Phone"),
        "{run:?}"
    );
    let sandbox = crate::util::sandbox(crate::util::Faults::default());
    let run = dir.send(
        &sandbox,
        &crate::util::send_args(
            "two.csv",
            "out.csv",
            &["--map", "chatId=Phone", "--map", "phoneContact=Phone"],
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = crate::util::read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["chatId"], "79161234567@c.us");
    assert_eq!(rows[0]["phoneContact"], "79031234567");
    // A field mapped twice keeps the last, and gives its first column back.
    let run = dir.send(
        &sandbox,
        &crate::util::send_args(
            "two.csv",
            "again.csv",
            &[
                "--map",
                "chatId=Phone",
                "--map",
                "chatId=Phone",
                "--map",
                "phoneContact=Phone",
                "--again",
            ],
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = crate::util::read_records(&dir.path("again.csv"));
    assert_eq!(rows[0]["chatId"], "79161234567@c.us");
    assert_eq!(rows[0]["phoneContact"], "79031234567");
}

/// Google Contacts labels each number in a column beside it: a `Work Fax` is passed over for
/// the row's next number, never sent as the card's phone.
#[test]
fn a_number_a_row_labels_a_fax_is_not_used_as_a_phone() {
    let dir = Workdir::new();
    dir.write(
        "g.csv",
        "First Name,Last Name,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value\n\
         Boris,Popov,Work Fax,+7 495 201-33-46,Mobile,+7 916 201-33-47\n\
         Vera,Orlova,Mobile,+7 916 201-33-48,Work Fax,+7 495 201-33-49\n\
         Gleb,Sokolov,Pager,+7 495 201-33-50,,\n\
         Dina,Lvova,Fairfax office,+7 916 201-33-51,,\n",
    );
    let run = dir.run(&[
        "validate",
        "g.csv",
        "--set",
        "chatId=79001234567",
        "--report",
        "-",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout
            .contains("4,error,phoneContact,,\"is missing: the row's number is labelled 'Pager'"),
        "{run:?}"
    );
    let sandbox = crate::util::sandbox(crate::util::Faults::default());
    let run = dir.send(
        &sandbox,
        &crate::util::send_args(
            "g.csv",
            "out.csv",
            &["--set", "chatId=79001234567", "--skip-invalid"],
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let phones: Vec<&str> = rows.iter().map(|r| r["phoneContact"].as_str()).collect();
    // A label with "fax" inside a word (`Fairfax office`) is no fax.
    assert_eq!(phones, ["79162013347", "79162013348", "", "79162013351"]);
}
