//! One card to many chats (`--set`), and the exports people really have: Google Contacts,
//! Outlook, HubSpot, Salesforce, Bitrix24, amoCRM, Zoho, Pipedrive, Apollo, Shopify,
//! Thunderbird, Wix, a plain list.

use std::path::Path;

use greenbulk::input::{ColumnMap, Field, FieldSetting};

use crate::util::{Faults, Workdir, read_records, sandbox, send_args};

/// What the table in docs/input.md says greenbulk takes from each export: its header row, then the
/// columns of firstName, middleName, lastName, company, and the phone columns in the order
/// they are tried.
const EXPORTS: &[(&str, &str, [&str; 4], &[&str])] = &[
    (
        "Google Contacts (current)",
        "First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,Address 1 - Label,Address 1 - Formatted,Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,Address 1 - Postal Code,Address 1 - Country,Address 1 - Extended Address,Website 1 - Label,Website 1 - Value",
        [
            "First Name",
            "Middle Name",
            "Last Name",
            "Organization Name",
        ],
        &["Phone 1 - Value", "Phone 2 - Value"],
    ),
    (
        "Google Contacts (Google CSV, older)",
        "Name,Given Name,Additional Name,Family Name,Yomi Name,Given Name Yomi,Additional Name Yomi,Family Name Yomi,Name Prefix,Name Suffix,Initials,Nickname,Short Name,Maiden Name,Birthday,Gender,Location,Billing Information,Directory Server,Mileage,Occupation,Hobby,Sensitivity,Priority,Subject,Notes,Language,Photo,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value,Organization 1 - Type,Organization 1 - Name,Organization 1 - Yomi Name,Organization 1 - Title",
        [
            "Given Name",
            "Additional Name",
            "Family Name",
            "Organization 1 - Name",
        ],
        &["Phone 1 - Value", "Phone 2 - Value"],
    ),
    (
        "Outlook",
        "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,Business Street 2,Business Street 3,Business City,Business State,Business Postal Code,Business Country/Region,Home Street,Home Street 2,Home Street 3,Home City,Home State,Home Postal Code,Home Country/Region,Other Street,Other Street 2,Other Street 3,Other City,Other State,Other Postal Code,Other Country/Region,Assistant's Phone,Business Fax,Business Phone,Business Phone 2,Callback,Car Phone,Company Main Phone,Home Fax,Home Phone,Home Phone 2,ISDN,Mobile Phone,Other Fax,Other Phone,Pager,Primary Phone,Radio Phone,TTY/TDD Phone,Telex,Account,Anniversary,Assistant's Name,Billing Information,Birthday,Business Address PO Box,Categories,Children,Directory Server,E-mail Address,E-mail Type,E-mail Display Name,E-mail 2 Address,E-mail 2 Type,E-mail 2 Display Name,E-mail 3 Address,E-mail 3 Type,E-mail 3 Display Name,Gender,Government ID Number,Hobby,Home Address PO Box,Initials,Internet Free Busy,Keywords,Language,Location,Manager's Name,Mileage,Notes,Office Location,Organizational ID Number,Other Address PO Box,Priority,Private,Profession,Referred By,Sensitivity,Spouse,User 1,User 2,User 3,User 4,Web Page",
        ["First Name", "Middle Name", "Last Name", "Company"],
        &[
            "Mobile Phone",
            "Primary Phone",
            "Business Phone",
            "Business Phone 2",
            "Company Main Phone",
            "Car Phone",
            "Home Phone",
            "Home Phone 2",
            "Other Phone",
            "Radio Phone",
        ],
    ),
    (
        "HubSpot contacts",
        "Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Company Name,Job Title,Lifecycle Stage,Lead Status,Contact owner,Create Date,Last Activity Date",
        ["First Name", "", "Last Name", "Company Name"],
        &["Mobile Phone Number", "Phone Number"],
    ),
    (
        "Salesforce contacts report",
        "Contact Owner,Salutation,First Name,Last Name,Title,Account Name,Mailing Street,Mailing City,Mailing State/Province,Mailing Zip/Postal Code,Mailing Country,Phone,Mobile,Home Phone,Other Phone,Fax,Email,Last Activity",
        ["First Name", "", "Last Name", "Account Name"],
        &["Mobile", "Phone", "Home Phone", "Other Phone"],
    ),
    (
        "Bitrix24 (Russian UI)",
        "ID;Обращение;Имя;Фамилия;Отчество;Имя, Фамилия;Дата рождения;Фотография;Компания;Ответственный;Рабочий телефон;Мобильный телефон;Номер факса;Домашний телефон;Номер пейджера;Телефон для рассылок;Другой телефон;Корпоративный сайт;Личная страница;Страница Facebook;Страница ВКонтакте;Рабочий e-mail;Частный e-mail;E-mail для рассылок;Другой e-mail;Контакт Facebook;Контакт Telegram;Контакт ВКонтакте;Контакт Skype;Контакт Viber;Онлайн-чат;Контакт Открытая линия;Другой контакт;Должность;Комментарий;Тип контакта;Источник;Дополнительно об источнике;Экспорт;Доступен для всех;Источник телефона",
        ["Имя", "Отчество", "Фамилия", "Компания"],
        &[
            "Мобильный телефон",
            "Телефон для рассылок",
            "Рабочий телефон",
            "Домашний телефон",
            "Другой телефон",
        ],
    ),
    (
        "Bitrix24 (English UI)",
        "ID,Salutation,Name,Second name,Last name,Date of birth,Position,Company,Work Phone,Mobile,Fax,Home Phone,Pager Number,SMS marketing phone,Other Phone Number,Work E-mail,Private E-mail,Facebook account,Telegram account,VK account,Skype ID,Viber contact,Contact type,Source,Responsible person,Comment",
        ["Name", "Second name", "Last name", "Company"],
        &[
            "Mobile",
            "SMS marketing phone",
            "Work Phone",
            "Home Phone",
            "Other Phone Number",
        ],
    ),
    (
        "amoCRM (Russian UI)",
        "ID;Тип;Полное имя контакта;Имя;Фамилия;Название компании;Ответственный;Дата создания контакта;Кем создан контакт;Сделки;Дата редактирования;Кем редактирован;Теги;Примечание 1;Примечание 2;Рабочий телефон;Рабочий прямой телефон;Мобильный телефон;Факс;Домашний телефон;Другой телефон;Рабочий email;Личный email;Другой email;Web;Адрес;Должность",
        ["Имя", "", "Фамилия", "Название компании"],
        &[
            "Мобильный телефон",
            "Рабочий телефон",
            "Рабочий прямой телефон",
            "Домашний телефон",
            "Другой телефон",
        ],
    ),
    (
        "amoCRM (English UI)",
        "ID,First name,Last name,Full name,Company,Responsible user,Date created,Created by,Tags,Work phone,Mobile phone,Home phone,Other phone,Work email,Position",
        ["First name", "", "Last name", "Company"],
        &["Mobile phone", "Work phone", "Home phone", "Other phone"],
    ),
    (
        "HubSpot contacts (all properties)",
        "Record ID,First Name,Last Name,Annual Revenue,City,Company Name,Country/Region,Create Date,Email,Fax Number,IP Country Code,Job Title,Lead Status,Mobile Phone Number,Phone Number,WhatsApp Phone Number",
        ["First Name", "", "Last Name", "Company Name"],
        &[
            "WhatsApp Phone Number",
            "Mobile Phone Number",
            "Phone Number",
        ],
    ),
    (
        "Zoho CRM contacts",
        "Record Id,Contact Owner,Lead Source,First Name,Last Name,Account Name,Vendor Name,Email,Title,Department,Phone,Home Phone,Other Phone,Fax,Mobile,Date of Birth,Assistant,Asst Phone,Email Opt Out,Created By,Modified By,Created Time,Modified Time,Full Name,Salutation,Secondary Email,Last Activity Time,Tag,Reporting To,Mailing Street,Mailing City,Mailing State,Mailing Zip,Mailing Country,Description",
        ["First Name", "", "Last Name", "Account Name"],
        &["Mobile", "Phone", "Home Phone", "Other Phone"],
    ),
    (
        "Pipedrive people",
        "Person - ID,Person - Name,Person - First name,Person - Last name,Person - Organization,Person - Email - Work,Person - Email - Home,Person - Email - Other,Person - Phone - Work,Person - Phone - Home,Person - Phone - Mobile,Person - Phone - Other,Person - Job title,Person - Owner,Person - Labels,Person - Notes,Person - Open deals,Person - Won deals",
        [
            "Person - First name",
            "",
            "Person - Last name",
            "Person - Organization",
        ],
        &[
            "Person - Phone - Mobile",
            "Person - Phone - Work",
            "Person - Phone - Home",
            "Person - Phone - Other",
        ],
    ),
    (
        "Apollo.io",
        "First Name,Last Name,Title,Company,Company Name for Emails,Email,Email Status,Primary Email Source,Seniority,Departments,Contact Owner,Work Direct Phone,Home Phone,Mobile Phone,Corporate Phone,Other Phone,Stage,Lists,Last Contacted,Account Owner,# Employees,Industry,Keywords,Person Linkedin Url,Website,Company Linkedin Url,City,State,Country,Company Address,Company City,Company State,Company Country,Company Phone,Apollo Contact Id,Apollo Account Id,Secondary Email,Do Not Call",
        ["First Name", "", "Last Name", "Company"],
        &[
            "Mobile Phone",
            "Work Direct Phone",
            "Corporate Phone",
            "Company Phone",
            "Home Phone",
            "Other Phone",
        ],
    ),
    (
        "Shopify customers",
        "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags",
        ["First Name", "", "Last Name", ""],
        &["Phone", "Default Address Phone"],
    ),
    (
        "Thunderbird",
        "First Name,Last Name,Display Name,Nickname,Primary Email,Secondary Email,Screen Name,Work Phone,Home Phone,Fax Number,Pager Number,Mobile Number,Home Address,Home Address 2,Home City,Home State,Home ZipCode,Home Country,Work Address,Work Address 2,Work City,Work State,Work ZipCode,Work Country,Job Title,Department,Organization,Web Page 1,Web Page 2,Birth Year,Birth Month,Birth Day,Custom 1,Custom 2,Custom 3,Custom 4,Notes",
        ["First Name", "", "Last Name", "Organization"],
        &["Mobile Number", "Work Phone", "Home Phone"],
    ),
    (
        "Wix contacts",
        "First Name,Last Name,Email 1,Email 2,Phone 1,Phone 2,Address 1 - Type,Address 1 - Street,Address 1 - City,Address 1 - State/Region,Address 1 - Zip,Address 1 - Country,Company,Labels,Created At (UTC+0),Email subscriber status,SMS subscriber status,Last Activity,Source,Language",
        ["First Name", "", "Last Name", "Company"],
        &["Phone 1", "Phone 2"],
    ),
    (
        "a plain Excel list",
        "Name,Phone,Company,City",
        ["Name", "", "", "Company"],
        &["Phone"],
    ),
];

#[test]
fn every_export_maps_as_the_docs_say() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/input.md"))
            .unwrap();
    for (name, header_row, names, phones) in EXPORTS {
        let delimiter = if header_row.contains(';') { ';' } else { ',' };
        let headers: csv::StringRecord = header_row.split(delimiter).collect();
        let header_of = |i: Option<usize>| i.map_or("", |i| headers.get(i).unwrap());
        // Many cards to one chat: the export's contacts become the cards.
        let to_one_chat: FieldSetting = "chatId=79001234567".parse().unwrap();
        let map = ColumnMap::resolve(&headers, &[], &[to_one_chat], Path::new("x.csv"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = [
            Field::FirstName,
            Field::MiddleName,
            Field::LastName,
            Field::Company,
        ]
        .map(|field| header_of(map.get(field)));
        assert_eq!(&got, names, "{name}");
        assert_eq!(header_of(map.get(Field::PhoneContact)), phones[0], "{name}");
        // Without a say, the phone columns are listed, likeliest first.
        let err = ColumnMap::resolve(&headers, &[], &[], Path::new("x.csv")).unwrap_err();
        let listed: Vec<String> = phones.iter().map(|p| format!("'{p}'")).collect();
        assert!(
            err.contains(&format!("phone columns: {}.", listed.join(", "))),
            "{name}: {err}"
        );
        // The table in docs/input.md says the same.
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("{name} is in the table in docs/input.md"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let shown = |header: &str| header.to_string();
        if *name != "a plain Excel list" {
            assert_eq!(cells[2..6], names.map(shown), "{name}: {row}");
        }
        assert!(cells[6].starts_with(phones[0]), "{name}: {row}");
    }
}

#[test]
fn set_sends_one_card_to_every_chat_and_says_which() {
    let dir = Workdir::new();
    dir.write(
        "customers.csv",
        "Name,Mobile,Company\nVera,+7 916 401-10-01,Acme\nMaxim,+7 916 401-10-02,Beta\n\
         Vera again,+7 916 401-10-01,Acme\n",
    );
    let sandbox = sandbox(Faults::default());
    let card = [
        "--set",
        "phoneContact=74951234567",
        "--set",
        "company=Romashka support",
    ];
    let run = dir.send(&sandbox, &send_args("customers.csv", "out.csv", &card));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("every row gets the card Romashka support, +7 495 123-45-67"),
        "{run:?}"
    );
    assert!(run.stderr.contains("column 'Company' ignored"), "{run:?}");
    assert!(run.stderr.contains("chatId ← 'Mobile'"), "{run:?}");
    // The same chat twice with a constant card: a duplicate, sent once.
    let outgoing = sandbox.outgoing();
    assert_eq!(outgoing.len(), 2);
    for message in &outgoing {
        assert_eq!(message.phone_contact, 74951234567);
        assert_eq!(message.contact.display_name, "Romashka support");
    }
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[2]["status"], "duplicate", "{rows:?}");
}

#[test]
fn set_with_map_and_the_errors_of_both() {
    let dir = Workdir::new();
    dir.write(
        "c.csv",
        "Client,Client phone,Manager phone\nVera,+7 916 401-10-01,+7 916 500-00-01\n",
    );
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args(
            "c.csv",
            "out.csv",
            &[
                "--map",
                "chatId=Client phone",
                "--set",
                "phoneContact=+7 916 500-00-01",
                "--set",
                "firstName=Sergey",
            ],
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing()[0].chat_id, "79164011001@c.us");

    // One field from both flags.
    let run = dir.run(&[
        "validate",
        "c.csv",
        "--map",
        "chatId=Client phone",
        "--set",
        "chatId=79001234567",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("keep one"), "{run:?}");
    // A bad value is a usage error naming the flag.
    let run = dir.run(&["validate", "c.csv", "--set", "phoneContact=1234567"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--set phoneContact='1234567'"),
        "{run:?}"
    );
    assert!(run.stderr.contains("fewer than 11"), "{run:?}");
    let run = dir.run(&["validate", "c.csv", "--set", "nickname=x"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn resume_with_another_card_is_refused_and_with_the_same_sends_nothing_twice() {
    let dir = Workdir::new();
    dir.write(
        "in.csv",
        "Mobile\n+7 916 401-10-01\n+7 916 401-10-02\n+7 916 401-10-03\n",
    );
    let sandbox = sandbox(Faults {
        quota: Some(2),
        ..Faults::default()
    });
    let card = |company: &'static str| {
        vec![
            "--set",
            "phoneContact=74951234567",
            "--set",
            company,
            "--concurrency",
            "1",
        ]
    };
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &card("company=Romashka")),
    );
    assert_eq!(run.code, 4, "{run:?}");
    sandbox.set_faults(Faults::default());

    let mut typo_fixed = card("company=Romashka support");
    typo_fixed.push("--resume");
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &typo_fixed));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--set company is 'Romashka support'"),
        "{run:?}"
    );
    assert!(run.stderr.contains("was 'Romashka'"), "{run:?}");
    assert!(run.stderr.contains("new --results"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);

    let mut same = card("company=Romashka");
    same.push("--resume");
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &same));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 3);
    crate::util::assert_no_double_delivery(&sandbox);
}

/// The suggested commands in an ambiguity error (lines that start with `greenbulk send`).
fn suggestions(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("greenbulk send "))
        .map(str::to_string)
        .collect()
}

/// Runs a command line as a user would type it, with the greenbulk binary for `greenbulk`,
/// in `dir`, with `extra` appended.
fn run_line(dir: &Path, state: &Path, line: &str, extra: &str) -> crate::util::Run {
    let line = line.replacen("greenbulk", env!("CARGO_BIN_EXE_greenbulk"), 1);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{line} {extra}"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_STATE_HOME", state)
        .output()
        .unwrap();
    crate::util::Run::from_output(output)
}

#[cfg(unix)] // the commands run through a POSIX shell
#[test]
fn an_ambiguous_export_gets_commands_that_run() {
    let dir = Workdir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/google-contacts.csv");
    std::fs::copy(&sample, dir.path("google contacts.csv")).unwrap();
    let run = dir.run(&["validate", "google contacts.csv"]);
    assert_eq!(run.code, 2, "{run:?}");
    let lines = suggestions(&run.stderr);
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(lines[0].contains("'google contacts.csv'"), "{lines:?}");
    for line in &lines[..2] {
        let run = run_line(&dir.path(""), &dir.path("state"), line, "--sandbox");
        assert_eq!(run.code, 0, "{line}: {run:?}");
    }
}
