//! Writes the files in `samples/`: `cargo run --example make-samples`.
//!
//! Each sample is a realistic export with a few deliberate mistakes for `validate` to explain;
//! `contacts-clean.csv` has none. The Windows-1251 and XLSX files are binary, so they are
//! generated here rather than edited by hand.

use rust_xlsxwriter::Workbook;

const CONTACTS_CSV: &str = "\
chatId,phoneContact,firstName,middleName,lastName,company
79161234567@c.us,79031234568,Artem,Petrovich,Evpatoriysky,Bicycle
+7 (916) 555-12-34,+7 (903) 765-43-21,Olga,,Smirnova,
14155552671,+1 415 555 0123,John,,Doe,Acme Inc.
4915112345678@c.us,7.90312E+10,Anna,,Schmidt,
447911123456,447700900123,,,,
79161234567@c.us,79031234568,Artem,Petrovich,Evpatoriysky,Bicycle
120363025555555555@g.us,79035550199,,,,\"Romashka, LLC\"
33612345678,+33 6 98 76 54 32,Camille,,Martin,\"Café \"\"Le Central\"\"\"
+49 151 2345 6789,+49 30 12345678,Jonas,,Weber,Weber GmbH
79261112233@c.us,79167654321,Ivan,Sergeevich,Petrov,
";

const CLEAN_CSV: &str = "\
chatId,phoneContact,firstName,lastName,company
79161234567@c.us,79031234568,Artem,Evpatoriysky,Bicycle
+7 (916) 555-12-34,+7 (903) 765-43-21,Olga,Smirnova,
14155552671,+1 415 555 0123,John,Doe,Acme Inc.
33612345678,+33 6 98 76 54 32,Camille,Martin,
";

const CRM_EXPORT_RU: &str = "\
Получатель;Телефон;Фамилия;Имя;Отчество;Организация
+7 916 111-22-33;+7 903 123-45-67;Иванов;Иван;Иванович;ООО \"Ромашка\"
79162223344@c.us;8 (903) 234-56-78;Петрова;Мария;;
79163334455;+7 903 345-67-89 доб. 12;Сидоров;Пётр;Алексеевич;ИП Сидоров
79164445566;9033456789;Кузнецова;Анна;;
79165556677;+7 (903) 456-78-90;Смирнов;Алексей;;\"Вектор; филиал\"
";

/// Google Contacts' "Google CSV" export (the format with `Phone 1 - Type`): a full name and
/// its parts, empty columns, several values of one field joined with ` ::: `.
const GOOGLE_CONTACTS: &str = "\
Name,Given Name,Additional Name,Family Name,Yomi Name,Given Name Yomi,Additional Name Yomi,Family Name Yomi,Name Prefix,Name Suffix,Initials,Nickname,Short Name,Maiden Name,Birthday,Gender,Location,Billing Information,Directory Server,Mileage,Occupation,Hobby,Sensitivity,Priority,Subject,Notes,Language,Photo,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value,Organization 1 - Type,Organization 1 - Name,Organization 1 - Title
Anna Volkova,Anna,,Volkova,,,,,,,,,,,1990-04-12,,,,,,,,,,,,,,* myContacts ::: Clients,* Home,anna.volkova@example.com,Mobile,+7 916 201-33-44,,,,,
Boris Lebedev,Boris,Ilyich,Lebedev,,,,,,,,Borya,,,,,,,,,,,,,,Met at the expo,,,* myContacts ::: Clients,* Work,b.lebedev@example.com,Mobile,+7 916 202-44-55 ::: +7 495 220-44-55,Work,+7 495 220-44-56,,Lebedev & Sons,Owner
Claire Dubois,Claire,,Dubois,,,,,,,,,,,,,,,,,,,,,,,,,* myContacts,* Work,claire@example.fr,Mobile,+33 6 12 34 56 78,,,,Atelier Dubois,
Dmitry Orlov,Dmitry,,Orlov,,,,,,,,,,,1985-11-02,,,,,,,,,,,,,,* myContacts ::: Clients,,,Mobile,8 916 203-55-66,,,,,
Elena Morozova,Elena,Sergeevna,Morozova,,,,,,,,,,,,,,,,,,,,,,,,,* myContacts,* Home,elena.m@example.com,Mobile,+7 (916) 204-66-77,Home,+7 495 204-66-78,,,
";

/// Outlook's contacts export (File → Open & Export → Export to a file → CSV): every column
/// Outlook knows, most of them empty.
const OUTLOOK_CONTACTS: &str = "\
Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,Business Street 2,Business Street 3,Business City,Business State,Business Postal Code,Business Country/Region,Home Street,Home Street 2,Home Street 3,Home City,Home State,Home Postal Code,Home Country/Region,Other Street,Other Street 2,Other Street 3,Other City,Other State,Other Postal Code,Other Country/Region,Assistant's Phone,Business Fax,Business Phone,Business Phone 2,Callback,Car Phone,Company Main Phone,Home Fax,Home Phone,Home Phone 2,ISDN,Mobile Phone,Other Fax,Other Phone,Pager,Primary Phone,Radio Phone,TTY/TDD Phone,Telex,Account,Anniversary,Assistant's Name,Billing Information,Birthday,Business Address PO Box,Categories,Children,Directory Server,E-mail Address,E-mail Type,E-mail Display Name,E-mail 2 Address,E-mail 2 Type,E-mail 2 Display Name,E-mail 3 Address,E-mail 3 Type,E-mail 3 Display Name,Gender,Government ID Number,Hobby,Home Address PO Box,Initials,Internet Free Busy,Keywords,Language,Location,Manager's Name,Mileage,Notes,Office Location,Organizational ID Number,Other Address PO Box,Priority,Private,Profession,Referred By,Sensitivity,Spouse,User 1,User 2,User 3,User 4,Web Page
Mr.,Pavel,,Sokolov,,Sokolov Logistics,Sales,Manager,Lesnaya 5,,,Moscow,,125047,Russia,,,,,,,,,,,,,,,,,+7 (495) 301-11-22,,,,,,,,,+7 (916) 301-11-23,,,,,,,,,0/0/00,,,0/0/00,,Customers,,,p.sokolov@example.com,SMTP,Pavel Sokolov (p.sokolov@example.com),,,,,,,Unspecified,,,,P.S.,,,,,,,,,,,Normal,False,,,Normal,,,,,,
Ms.,Irina,Pavlovna,Kuznetsova,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,+7 495 302-22-33,,,+7 916 302-22-34,,,,,,,,,0/0/00,,,0/0/00,,Customers,,,irina.k@example.com,SMTP,Irina Kuznetsova (irina.k@example.com),,,,,,,Unspecified,,,,I.K.,,,,,,,,,,,Normal,False,,,Normal,,,,,,
,James,,Walker,,Walker Design Ltd,,,,,,London,,,United Kingdom,,,,,,,,,,,,,,,,,+44 20 7946 0958,,,,,,,,,+44 7700 900461,,,,,,,,,0/0/00,,,0/0/00,,,,,james@example.co.uk,SMTP,James Walker (james@example.co.uk),,,,,,,Unspecified,,,,J.W.,,,,,,,,,,,Normal,False,,,Normal,,,,,,
,Olga,,Fedorova,,Fedorova Consulting,,,,,,,,,,,,,,,,,,,,,,,,,,+7 (812) 303-33-44,,,,,,,,,,,,,,,,,,0/0/00,,,0/0/00,,,,,olga@example.com,SMTP,Olga Fedorova (olga@example.com),,,,,,,Unspecified,,,,O.F.,,,,,,,,,,,Normal,False,,,Normal,,,,,,
";

/// A plain list a sales team keeps: each client and the manager who looks after them.
const CLIENTS_AND_MANAGERS: &str = "\
Client,Client phone,Manager,Manager phone
Vera Nikolaeva,+7 916 401-10-01,Sergey Ivanov,+7 916 500-00-01
Maxim Belov,+7 916 401-10-02,Sergey Ivanov,+7 916 500-00-01
Alina Zaitseva,+7 916 401-10-03,Olga Smirnova,+7 916 500-00-02
Roman Kim,+7 916 401-10-04,Olga Smirnova,+7 916 500-00-02
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write("samples/google-contacts.csv", GOOGLE_CONTACTS)?;
    std::fs::write(
        "samples/outlook-contacts.csv",
        OUTLOOK_CONTACTS.replace('\n', "\r\n"),
    )?;
    std::fs::write("samples/clients-and-managers.csv", CLIENTS_AND_MANAGERS)?;
    std::fs::write("samples/contacts.csv", CONTACTS_CSV)?;
    std::fs::write("samples/contacts-clean.csv", CLEAN_CSV)?;
    let crlf = CRM_EXPORT_RU.replace('\n', "\r\n");
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(&crlf);
    assert!(!unmappable, "the Russian sample must fit Windows-1251");
    std::fs::write("samples/crm-export-ru.csv", bytes)?;

    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Contacts")?;
    let header = ["Recipient", "Phone", "First name", "Last name", "Company"];
    for (col, title) in header.iter().enumerate() {
        sheet.write_string(0, col as u16, *title)?;
    }
    // Phones stored as numbers, as Excel users type them.
    let rows: [(&str, f64, &str, &str, &str); 5] = [
        (
            "79161234567",
            79031234568.0,
            "Artem",
            "Evpatoriysky",
            "Bicycle",
        ),
        ("+7 916 555-12-34", 79037654321.0, "Olga", "Smirnova", ""),
        ("", 14155550123.0, "John", "Doe", "Acme Inc."),
        ("33612345678", 9033456789.0, "Camille", "Martin", ""),
        (
            "4915123456789",
            4930901820.0,
            "Jonas",
            "Weber",
            "Weber GmbH",
        ),
    ];
    for (i, (chat, phone, first, last, company)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, *chat)?;
        sheet.write_number(r, 1, *phone)?;
        sheet.write_string(r, 2, *first)?;
        sheet.write_string(r, 3, *last)?;
        if !company.is_empty() {
            sheet.write_string(r, 4, *company)?;
        }
    }
    let notes = workbook.add_worksheet().set_name("Notes")?;
    notes.write_string(0, 0, "Exported from the CRM; phones are stored as numbers.")?;
    workbook.save("samples/contacts.xlsx")?;
    Ok(())
}
