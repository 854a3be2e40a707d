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

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
