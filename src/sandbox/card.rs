//! What the emulator makes of a `sendContact` body: checked the way GREEN-API checks it,
//! with its validation messages, and the vCard the message carries.

use serde_json::Value;

use super::message::Contact;
use crate::contact::phone::MAX_SAFE_INTEGER;

pub(super) struct Card {
    pub(super) chat_id: String,
    pub(super) phone_contact: u64,
    pub(super) quoted_message_id: Option<String>,
    pub(super) fields: Value,
    pub(super) contact: Contact,
}

/// Validates a body the way GREEN-API does, with its messages.
pub(super) fn parse_card(body: &[u8]) -> Result<Card, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "Validation failed".to_string())?;
    let object = value.as_object().ok_or("Validation failed")?;
    if object.is_empty() {
        return Err("Validation failed. Details: 'value' must have at least 1 key".into());
    }
    for key in object.keys() {
        if !["chatId", "contact", "quotedMessageId"].contains(&key.as_str()) {
            return Err(format!(
                "Validation failed. Details: '{key}' is not allowed"
            ));
        }
    }
    let chat_id = object
        .get("chatId")
        .and_then(Value::as_str)
        .ok_or("Validation failed. Details: 'chatId' is required")?;
    if !valid_chat_id(chat_id) {
        return Err(
            "Validation failed. Details: 'chatId' must be one of the next formats: \
                    'phone_number@c.us' or 'group_id@g.us'"
                .into(),
        );
    }
    let contact = object
        .get("contact")
        .and_then(Value::as_object)
        .ok_or("Validation failed. Details: 'contact' is required")?;
    for key in contact.keys() {
        if ![
            "phoneContact",
            "firstName",
            "middleName",
            "lastName",
            "company",
        ]
        .contains(&key.as_str())
        {
            return Err(format!(
                "Validation failed. Details: 'contact.{key}' is not allowed"
            ));
        }
    }
    let phone = contact
        .get("phoneContact")
        .ok_or("Validation failed. Details: 'contact.phoneContact' is required")?;
    let phone_contact = match phone {
        Value::Number(n) => match n.as_u64() {
            Some(p) if p <= MAX_SAFE_INTEGER => p,
            Some(_) => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a safe number"
                        .into(),
                );
            }
            None if n.as_f64().is_some_and(|f| f > MAX_SAFE_INTEGER as f64) => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a safe number"
                        .into(),
                );
            }
            None => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a number".into(),
                );
            }
        },
        _ => {
            return Err(
                "Validation failed. Details: 'contact.phoneContact' must be a number".into(),
            );
        }
    };
    let name = |key: &str| {
        contact
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (first, middle, last, company) = (
        name("firstName"),
        name("middleName"),
        name("lastName"),
        name("company"),
    );
    if [&first, &middle, &last, &company]
        .iter()
        .all(|s| s.is_empty())
    {
        return Err(
            "Validation failed. Details: 'contact' must contain at least one of \
                    [firstName, middleName, lastName, company]"
                .into(),
        );
    }
    Ok(Card {
        chat_id: chat_id.to_string(),
        phone_contact,
        quoted_message_id: object
            .get("quotedMessageId")
            .and_then(Value::as_str)
            .map(str::to_string),
        fields: Value::Object(contact.clone()),
        contact: vcard(phone_contact, &first, &middle, &last, &company),
    })
}

fn valid_chat_id(chat_id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(number) = chat_id.strip_suffix("@c.us") {
        return digits(number);
    }
    if let Some(group) = chat_id.strip_suffix("@g.us") {
        return group.splitn(2, '-').all(digits);
    }
    false
}

/// The contact as WhatsApp shows it: a display name and a vCard 3.0.
pub(super) fn vcard(phone: u64, first: &str, middle: &str, last: &str, company: &str) -> Contact {
    let full: Vec<&str> = [first, middle, last]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let display_name = if full.is_empty() {
        company.to_string()
    } else {
        full.join(" ")
    };
    let mut card = String::from("BEGIN:VCARD\nVERSION:3.0\n");
    card.push_str(&format!("N:{last};{first};{middle};;\n"));
    card.push_str(&format!("FN:{display_name}\n"));
    if !company.is_empty() {
        card.push_str(&format!("ORG:{company};\n"));
    }
    card.push_str(&format!(
        "TEL;type=CELL;type=VOICE;waid={phone}:+{phone}\nEND:VCARD"
    ));
    Contact {
        display_name,
        vcard: card,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_validation_messages() {
        let err = |body: &str| parse_card(body.as_bytes()).err().unwrap_or_default();
        assert_eq!(
            err("{}"),
            "Validation failed. Details: 'value' must have at least 1 key"
        );
        assert!(
            err(r#"{"chatId":"1@c.us","contact":{"phoneContact":"7900","firstName":"A"}}"#)
                .ends_with("'contact.phoneContact' must be a number")
        );
        assert!(
            err(
                r#"{"chatId":"1@c.us","contact":{"phoneContact":9007199254740993,"firstName":"A"}}"#
            )
            .ends_with("'contact.phoneContact' must be a safe number")
        );
        assert!(
            err(r#"{"chatId":"x","contact":{"phoneContact":79001234568,"firstName":"A"}}"#)
                .contains("'chatId' must be one of the next formats")
        );
        assert!(
            err(r#"{"chatId":"1@c.us","contact":{"phoneContact":79001234568}}"#)
                .contains("at least one of")
        );
    }

    #[test]
    fn vcard_is_built_from_the_fields() {
        let c = vcard(79001234568, "Artem", "Petrovich", "Evpatoriysky", "Bicycle");
        assert_eq!(c.display_name, "Artem Petrovich Evpatoriysky");
        assert!(c.vcard.contains("N:Evpatoriysky;Artem;Petrovich;;"));
        assert!(c.vcard.contains("ORG:Bicycle;"));
        assert!(c.vcard.contains("waid=79001234568:+79001234568"));
        assert_eq!(
            vcard(79001234568, "", "", "", "Bicycle").display_name,
            "Bicycle"
        );
    }
}
