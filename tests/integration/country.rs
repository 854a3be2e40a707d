//! `--country CC`: numbers written without their country code read in one country's plan,
//! the hint that names the flag when it is missing, and short codes refused in their own words.

use crate::util::{Faults, Workdir, read_records, sandbox, send_args};

/// A Malagasy business's export, as Google Contacts writes it: national numbers beside
/// international ones.
const MADAGASCAR: &str = "\
Name,Phone 1 - Value
Hery Rakoto,034 39 387 51
Lova Rabe,0328718641
Rado Andria,+261 34 11 426 49
";

/// The shop's own card to each customer of [`MADAGASCAR`].
const SHOP_CARD: [&str; 6] = [
    "--map",
    "chatId=Phone 1 - Value",
    "--set",
    "phoneContact=+261 20 22 123 45",
    "--set",
    "company=Boutique Rova",
];

/// A Russian CRM's, with the trunk prefix 8.
const RUSSIA: &str = "\
Получатель;Телефон;Имя
8 903 123-45-67;+7 495 123-45-67;Ivan
+7 916 111-22-33;8 (903) 234-56-78;Petr
";

#[test]
fn national_numbers_of_madagascar_are_read_in_its_plan_and_sent_as_such() {
    let dir = Workdir::new();
    dir.write("mg.csv", MADAGASCAR);
    let card = SHOP_CARD;
    let mut validate = vec!["validate", "mg.csv", "--country", "MG"];
    validate.extend(card);
    let run = dir.run(&validate);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "2 numbers written without a country code read in MG's numbering plan (+261)"
        ),
        "{run:?}"
    );

    // The shop's own number given the way it is written at home: read in the plan too, and
    // shown as the card will carry it.
    let run = dir.run(&[
        "validate",
        "mg.csv",
        "--country",
        "MG",
        "--map",
        "chatId=Phone 1 - Value",
        "--set",
        "phoneContact=020 22 123 45",
        "--set",
        "company=Boutique Rova",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("every row gets the card Boutique Rova, +261 20 22 123 45"),
        "{run:?}"
    );

    let sandbox = sandbox(Faults::default());
    let mut flags = vec!["--country", "mg"];
    flags.extend(card);
    let run = dir.send(&sandbox, &send_args("mg.csv", "r.csv", &flags));
    assert_eq!(run.code, 0, "{run:?}");
    let mut chats: Vec<String> = sandbox.outgoing().into_iter().map(|m| m.chat_id).collect();
    chats.sort();
    assert_eq!(
        chats,
        [
            "261328718641@c.us",
            "261341142649@c.us",
            "261343938751@c.us"
        ]
    );
    // The results show what was sent, beside the cells as the file had them.
    let results = read_records(&dir.path("r.csv"));
    assert_eq!(results[0]["chatId"], "261343938751@c.us");
    assert_eq!(results[0]["Phone 1 - Value"], "034 39 387 51");
    assert_eq!(results[1]["chatId"], "261328718641@c.us");
}

#[test]
fn a_russian_eight_is_the_trunk_prefix_under_country_ru() {
    let dir = Workdir::new();
    dir.write("ru.csv", RUSSIA);
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("ru.csv", "r.csv", &["--country", "RU"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut sent: Vec<(String, u64)> = sandbox
        .outgoing()
        .into_iter()
        .map(|m| (m.chat_id, m.phone_contact))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("79031234567@c.us".to_string(), 74951234567),
            ("79161112233@c.us".to_string(), 79032345678),
        ]
    );
    let results = read_records(&dir.path("r.csv"));
    assert_eq!(results[1]["phoneContact"], "79032345678");
}

#[test]
fn without_country_the_error_names_the_flag_that_would_read_the_number() {
    let dir = Workdir::new();
    dir.write("mg.csv", MADAGASCAR);
    let mut validate = vec!["validate", "mg.csv"];
    validate.extend(SHOP_CARD);
    let run = dir.run(&validate);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("row 2: error chatId '034 39 387 51' starts with 0, a national trunk prefix"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("`--country MG` would read it as +261 34 39 387 51"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("hint: 2 numbers look written without a country code, and the file's other numbers are from MG (+261)"),
        "{run:?}"
    );
    // Russian numbers with an 8 are warned of, and the same flag is named.
    dir.write("ru.csv", RUSSIA);
    let run = dir.run(&["validate", "ru.csv"]);
    assert!(
        run.stderr
            .contains("`--country RU` would read it as +7 903 123-45-67"),
        "{run:?}"
    );
    // A file whose numbers point nowhere in particular gets no hint.
    dir.write(
        "mixed.csv",
        "chatId,phoneContact,firstName\n0341234567,+261 34 11 426 48,A\n+49 30 1234567,+7 495 123-45-67,B\n",
    );
    let run = dir.run(&["validate", "mixed.csv"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("would read it"), "{run:?}");
}

#[test]
fn short_codes_ussd_and_numbers_outside_the_plan_stay_errors_in_their_own_words() {
    let dir = Workdir::new();
    dir.write(
        "c.csv",
        "chatId,phoneContact,firstName\n\
         800,+261 34 11 426 48,Short\n\
         #322*67,+261 34 11 426 48,Ussd\n\
         034 39 387,+261 34 11 426 48,Cut\n",
    );
    let run = dir.run(&["validate", "c.csv", "--country", "MG", "--report", "-"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(report.len(), 3, "{run:?}");
    assert!(
        report[0].starts_with("2,error,chatId,800,\"is a short code"),
        "{report:?}"
    );
    assert!(
        report[1].starts_with("3,error,chatId,#322*67,\"is a USSD code"),
        "{report:?}"
    );
    assert!(
        report[2].contains("is not a number of MG's numbering plan (+261): it has 7 digits after the trunk prefix, and numbers there have 9"),
        "{report:?}"
    );
    // Not a country at all: a usage error that says what a code is.
    let run = dir.run(&["validate", "c.csv", "--country", "Madagascar"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("ISO 3166"), "{run:?}");
}

#[test]
fn a_number_that_reads_two_ways_is_refused_never_changed() {
    let dir = Workdir::new();
    // A German shop's file: a Russian customer written without + reads, in Germany's plan,
    // as a German number too.
    dir.write(
        "de.csv",
        "chatId,phoneContact,firstName\n79031234567,+49 30 1234567,Ivan\n030 1234567,+49 30 1234567,Jonas\n",
    );
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("de.csv", "r.csv", &["--country", "DE", "--skip-invalid"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let chats: Vec<String> = sandbox.outgoing().into_iter().map(|m| m.chat_id).collect();
    assert_eq!(chats, ["49301234567@c.us"]);
    let results = read_records(&dir.path("r.csv"));
    assert_eq!(results[0]["status"], "invalid");
    assert!(
        results[0]["error"].contains("as written, +7 903 123-45-67")
            && results[0]["error"].contains("+49 7903 1234567"),
        "{:?}",
        results[0]
    );
}

#[test]
fn resume_reads_the_numbers_as_the_run_it_continues_did() {
    let dir = Workdir::new();
    dir.write("ru.csv", RUSSIA);
    let sandbox = sandbox(Faults::default());
    let first = send_args("ru.csv", "r.csv", &["--country", "RU", "--limit", "1"]);
    let run = dir.send(&sandbox, &first);
    assert_eq!(run.code, 0, "{run:?}");
    // Without the flag (or with another country) the same cells are other numbers.
    for other in [&["--resume"][..], &["--resume", "--country", "KZ"][..]] {
        let run = dir.send(&sandbox, &send_args("ru.csv", "r.csv", other));
        assert_eq!(run.code, 2, "{other:?}: {run:?}");
        assert!(run.stderr.contains("--country is"), "{run:?}");
    }
    assert_eq!(sandbox.outgoing().len(), 1);
    let run = dir.send(
        &sandbox,
        &send_args("ru.csv", "r.csv", &["--resume", "--country", "RU"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
    crate::util::assert_no_double_delivery(&sandbox);
}
