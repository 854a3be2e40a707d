//! Findings pinned byte for byte: a generated file holding every kind of cell the checks
//! tell apart, its report compared with one committed before `validate` was made faster.
//! Speed work must not change a single finding, row number or duplicate.
//!
//! To re-pin after an intended change of wording: `GREENBULK_PIN=1 cargo test pinned`, then
//! read the diff of `tests/data/` before committing it.

use std::path::{Path, PathBuf};

use crate::util::{Cell, Workdir};

/// A small deterministic generator (xorshift64*), so the file never depends on a crate's
/// random-number algorithm.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const HEADER: [&str; 7] = [
    "chatId",
    "phoneContact",
    "firstName",
    "middleName",
    "lastName",
    "company",
    "quotedMessageId",
];

/// A phone or chat cell: mostly good, in every written form, and every kind of mistake.
fn phone_cell(dice: &mut Dice, chat: bool) -> String {
    let n = dice.digits(7);
    let (a, b, c) = (&n[..3], &n[3..5], &n[5..]);
    let good = [
        format!("7916{n}"),
        format!("+7 916 {a}-{b}-{c}"),
        format!("+7 (916) {a} {b} {c}"),
        format!("007 916 {n}"),
        format!("7916{n}.0"),
        format!("+49 30 {n}1"),
        format!("+1 415 {a} {b}{c}"),
        format!("\u{a0}+7\u{a0}916\u{a0}{n} "),
        format!("+7 916 {a}\u{2011}{b}\u{2011}{c}"),
    ];
    let bad = [
        String::new(),
        "7.90312E+10".to_string(),
        format!("7916{n}.5"),
        format!("8916{n}"),
        format!("0916{n}"),
        format!("916{n}"),
        format!("7916{n}12345"),
        format!("9{}", dice.digits(15)),
        format!("+7 916 {n} ext 5"),
        format!("7916{n}#"),
        format!("79+16{n}"),
        format!("+7 916 {n}1"),
        format!("+7 916 {n} ::: +7 917 {n}"),
        format!(" ::: +7 917 {n}"),
    ];
    let chat_only = [
        format!("7916{n}@c.us"),
        format!("7916{n}@C.US"),
        format!("120363{n}-16{n}@g.us"),
        format!("120363{n}{n}@g.us"),
        format!("7916{n}@s.whatsapp.net"),
        format!("abc{n}@c.us"),
        format!("1{n}-@g.us"),
        "someone@example.com".to_string(),
    ];
    match dice.below(10) {
        0..=5 => good[dice.below(good.len())].clone(),
        6..=7 => bad[dice.below(bad.len())].clone(),
        _ if chat => chat_only[dice.below(chat_only.len())].clone(),
        _ => good[dice.below(good.len())].clone(),
    }
}

fn name_cell(dice: &mut Dice) -> String {
    const PLAIN: [&str; 12] = [
        "Ivan",
        "Мария",
        "John",
        "Anna-Lena",
        "Olga",
        "",
        "",
        "",
        "Jean-Pierre",
        "Fatima",
        "Chen 陈",
        "O'Brien",
    ];
    match dice.below(40) {
        0 => "Line\nbreak".into(),
        1 => "Tab\there".into(),
        2 => "Esc\u{1b}[31mape".into(),
        3 => "x".repeat(301),
        4 => "Bad \u{FFFD} bytes".into(),
        5 => "Swallowed\n7916,79160000000,Row;x;y".into(),
        6 => "Comma, inside; and \"quotes\"".into(),
        7 => "   padded   ".into(),
        _ => dice.pick(&PLAIN).into(),
    }
}

fn quoted_cell(dice: &mut Dice) -> String {
    match dice.below(20) {
        0 => "BAE5F4886F0A1A2B".into(),
        1 => "not an id!".into(),
        _ => String::new(),
    }
}

/// The generated rows (header first): about a third with something to say, some exact
/// duplicates of earlier rows, blank rows, and rows longer than the header.
fn rows() -> Vec<Vec<String>> {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    for _ in 0..1000 {
        let row = match dice.below(50) {
            0 if rows.len() > 1 => {
                let earlier = 1 + dice.below(rows.len() - 1);
                rows[earlier].clone()
            }
            1 => vec![String::new(); HEADER.len()],
            _ => {
                let mut row = vec![
                    phone_cell(&mut dice, true),
                    phone_cell(&mut dice, false),
                    name_cell(&mut dice),
                    name_cell(&mut dice),
                    name_cell(&mut dice),
                    name_cell(&mut dice),
                    quoted_cell(&mut dice),
                ];
                if dice.below(60) == 0 {
                    row.push("extra".into());
                }
                row
            }
        };
        rows.push(row);
    }
    rows
}

fn as_csv(rows: &[Vec<String>]) -> Vec<u8> {
    // Rows may be longer than the header.
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.into_inner().unwrap()
}

fn pinned(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The report and the summary's count line must equal the pinned ones.
fn check_pinned(dir: &Workdir, input: &Path, pin: &str) {
    let run = dir.run(&["validate", input.to_str().unwrap(), "--report", "-"]);
    assert_eq!(run.code, 3, "{run:?}");
    let counts = run
        .stderr
        .lines()
        .find(|l| l.contains("sendable"))
        .unwrap_or_else(|| panic!("no count line: {run:?}"));
    let got = format!("{}\n# {}\n", run.stdout, counts.trim());
    let path = pinned(pin);
    if std::env::var_os("GREENBULK_PIN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("the pinned report is committed");
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "the report differs from {} from line {}:\n  got:  {:?}\n  want: {:?}",
            path.display(),
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

#[test]
fn csv_findings_are_pinned() {
    let dir = Workdir::new();
    let input = dir.write("generated.csv", as_csv(&rows()));
    check_pinned(&dir, &input, "generated-csv-report.txt");
}

#[test]
fn xlsx_findings_are_pinned() {
    let dir = Workdir::new();
    let rows = rows();
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .map(|text| match text.parse::<f64>() {
                    // Some phones as numbers, as a workbook usually holds them.
                    Ok(n) if i % 3 == 0 && text.len() == 11 => Cell::Number(n),
                    _ if text.is_empty() => Cell::Empty,
                    _ => Cell::Text(text),
                })
                .collect()
        })
        .collect();
    let input = dir.write_xlsx("generated.xlsx", &[("Contacts", cells)]);
    check_pinned(&dir, &input, "generated-xlsx-report.txt");
}
