//! A checked `sendContact` request: where it goes ([`ChatId`]), the card, its keys, and the
//! JSON body exactly as it is sent.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::key::{KeyText, decimal};
use super::phone::MIN_DIGITS;
use super::{CardKey, ContentKey, Country, MAX_BODY_BYTES, PhoneError, PhoneNumber};

/// Where a message goes: a personal chat (`digits@c.us`) or a group (`…@g.us`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatId {
    Personal(u64),
    Group(String),
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatId::Personal(digits) => write!(f, "{digits}@c.us"),
            ChatId::Group(id) => f.write_str(id),
        }
    }
}

impl ChatId {
    /// A stable hash of the chat as it is sent (`digits@c.us`, `…@g.us`): the same on every
    /// machine and version, for spreading chats over instances.
    pub fn stable_hash(&self) -> u64 {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        let assembled = match self {
            ChatId::Personal(n) => text
                .push(decimal(*n, &mut digits))
                .and_then(|()| text.push(b"@c.us")),
            ChatId::Group(id) => text.push(id.as_bytes()),
        };
        match assembled {
            Some(()) => xxhash_rust::xxh3::xxh3_64(&text.bytes[..text.len]),
            None => xxhash_rust::xxh3::xxh3_64(self.to_string().as_bytes()),
        }
    }

    /// Parses every accepted form: `digits@c.us`, `digits-digits@g.us`, `digits@g.us`, or a
    /// phone number written any usual way. The error is a sentence about the value.
    pub fn parse(text: &str) -> Result<ChatId, String> {
        ChatId::parse_in(text, None).map(|(chat, _)| chat)
    }

    /// [`ChatId::parse`], a phone number written without its country code read in
    /// `country`'s plan (see [`parse_in`](super::parse_in)); and whether it was.
    pub fn parse_in(text: &str, country: Option<Country>) -> Result<(ChatId, bool), String> {
        let text = text.trim();
        let phone = |text: &str| {
            super::parse_in(text, country)
                .map(|(p, national)| (ChatId::Personal(p.get()), national))
                .map_err(|e| e.to_string())
        };
        // Every chat id form has an `@`; without one, the text is a phone number.
        if memchr::memchr(b'@', text.as_bytes()).is_none() {
            return phone(text);
        }
        let not_national = |chat| (chat, false);
        let lower = text.to_ascii_lowercase();
        if let Some(digits) = lower.strip_suffix("@c.us") {
            return personal(digits).map(not_national);
        }
        if let Some(id) = lower.strip_suffix("@g.us") {
            let mut parts = id.splitn(2, '-');
            let well_formed = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            return if well_formed {
                Ok(not_national(ChatId::Group(lower)))
            } else {
                Err(
                    "is not a group chat id: it must be digits@g.us or digits-digits@g.us, \
                     as GREEN-API's getContacts or group methods return it"
                        .into(),
                )
            };
        }
        if lower.ends_with("@s.whatsapp.net") {
            return Err(
                "uses WhatsApp's internal suffix; write it as digits@c.us (e.g. 79001234567@c.us)"
                    .into(),
            );
        }
        if text.contains('@') {
            return Err(
                "is not a chat id: personal chats are digits@c.us, groups are \
                        digits@g.us or digits-digits@g.us"
                    .into(),
            );
        }
        phone(text)
    }
}

/// The digits of a personal chat id (`digits@c.us`): a phone number with its country code,
/// judged as one (a chat id written this way is never read in a `--country` plan: it says
/// it is whole). A leading 0 was a national or international prefix left in, which WhatsApp
/// does not strip: such an id reaches nobody, or someone else.
fn personal(digits: &str) -> Result<ChatId, String> {
    const FORM: &str = "write it as the country code and number, digits only, then @c.us \
        (e.g. 79001234567@c.us)";
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("is not a personal chat id: {FORM}"));
    }
    if digits.starts_with('0') {
        return Err(format!(
            "starts with 0, a trunk or international prefix that does not belong in a chat \
             id: {FORM}"
        ));
    }
    // A chat may be a number shorter than a card's phone may (Norway's, Singapore's: ten
    // digits with the country code), when its country's plan has it.
    if (8..MIN_DIGITS).contains(&digits.len())
        && super::phone::in_a_plan(digits)
        && let Ok(n) = digits.parse()
    {
        return Ok(ChatId::Personal(n));
    }
    match super::phone::parse(digits) {
        Ok(number) => Ok(ChatId::Personal(number.get())),
        Err(PhoneError::TooShort(n, _)) => Err(format!(
            "has {n} digits before @c.us, fewer than {MIN_DIGITS}: a digit or the country \
             code is missing; {FORM}"
        )),
        Err(other) => Err(other.to_string()),
    }
}

/// A checked `sendContact` request, borrowing its names from the row (cleaned copies only
/// where a name held control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub chat_id: ChatId,
    pub phone_contact: PhoneNumber,
    pub first_name: Cow<'a, str>,
    pub middle_name: Cow<'a, str>,
    pub last_name: Cow<'a, str>,
    pub company: Cow<'a, str>,
    pub quoted_message_id: &'a str,
}

impl Request<'_> {
    /// The card's identity: its chat and phone (see [`CardKey`]); the same key as
    /// [`CardKey::of`], assembled on the stack (every row of a send computes it).
    pub fn card_key(&self) -> CardKey {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        let assembled = match &self.chat_id {
            ChatId::Personal(n) => text
                .push(decimal(*n, &mut digits))
                .and_then(|()| text.push(b"@c.us")),
            ChatId::Group(id) => text.push(id.as_bytes()),
        }
        .and_then(|()| text.push(b"\x1f"))
        .and_then(|()| text.push(decimal(self.phone_contact.get(), &mut digits)));
        match assembled {
            Some(()) => CardKey(xxhash_rust::xxh3::xxh3_128(&text.bytes[..text.len])),
            None => CardKey::of(&self.chat_id, self.phone_contact.get()),
        }
    }

    /// The same key as [`ContentKey::of`] gives for this card, without formatting the chat id.
    pub fn key(&self) -> ContentKey {
        self.short_key().unwrap_or_else(|| self.long_key())
    }

    /// The key of a card whose text fits in a [`KeyText`] (nearly all of them).
    fn short_key(&self) -> Option<ContentKey> {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        match &self.chat_id {
            ChatId::Personal(n) => {
                text.push(decimal(*n, &mut digits))?;
                text.push(b"@c.us")?;
            }
            ChatId::Group(id) => text.push(id.as_bytes())?,
        }
        text.push(b"\x1f")?;
        text.push(decimal(self.phone_contact.get(), &mut digits))?;
        for part in [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ] {
            text.push(b"\x1f")?;
            text.push(part.as_bytes())?;
        }
        Some(ContentKey(xxhash_rust::xxh3::xxh3_128(
            &text.bytes[..text.len],
        )))
    }

    fn long_key(&self) -> ContentKey {
        ContentKey::of(
            &self.chat_id,
            self.phone_contact.get(),
            [
                &self.first_name,
                &self.middle_name,
                &self.last_name,
                &self.company,
            ],
        )
    }

    /// The card's firstName, middleName, lastName and company.
    pub fn names(&self) -> [&str; 4] {
        [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ]
    }

    /// The JSON body exactly as it is sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a request always serialises")
    }

    /// The body's size in bytes, computed exactly only when it could be near the limit.
    pub(super) fn body_len_exceeds_limit(&self) -> bool {
        let raw: usize = [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + self.quoted_message_id.len();
        // JSON escaping grows a byte to at most six (\u00XX); below this the body is surely small.
        raw * 6 + 256 > MAX_BODY_BYTES && self.body().len() > MAX_BODY_BYTES
    }
}

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Contact<'r, 'a>(&'r Request<'a>);
        impl Serialize for Contact<'_, '_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let r = self.0;
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("phoneContact", &r.phone_contact.get())?;
                for (name, value) in [
                    ("firstName", &r.first_name),
                    ("middleName", &r.middle_name),
                    ("lastName", &r.last_name),
                    ("company", &r.company),
                ] {
                    if !value.is_empty() {
                        map.serialize_entry(name, value)?;
                    }
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("chatId", &self.chat_id.to_string())?;
        map.serialize_entry("contact", &Contact(self))?;
        if !self.quoted_message_id.is_empty() {
            map.serialize_entry("quotedMessageId", self.quoted_message_id)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::phone;

    #[test]
    fn chat_ids_in_every_accepted_form() {
        let personal = ChatId::Personal(79001234567);
        assert_eq!(ChatId::parse("79001234567@c.us"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("79001234567@C.US"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("+7 (900) 123-45-67"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("79001234567.0"), Ok(personal));
        assert_eq!(
            ChatId::parse("11001234567-1581234048@g.us"),
            Ok(ChatId::Group("11001234567-1581234048@g.us".into()))
        );
        assert_eq!(
            ChatId::parse("120363025555555555@g.us"),
            Ok(ChatId::Group("120363025555555555@g.us".into()))
        );
        for bad in [
            "abc@c.us",
            "@c.us",
            "12-@g.us",
            "79001234567@s.whatsapp.net",
            "a@b.c",
            "900",
        ] {
            assert!(ChatId::parse(bad).is_err(), "{bad}");
        }
        // digits@c.us is a phone number with its country code, judged as one: nothing is
        // taken off or let through that a number written plainly would not be.
        // Ten digits with the country code, where the country's plan has such numbers.
        for ten in ["4791234567@c.us", "4520123456@c.us", "6581234567@c.us"] {
            assert!(
                ChatId::parse(ten).is_ok(),
                "{ten}: {:?}",
                ChatId::parse(ten)
            );
        }
        for (bad, says) in [
            ("0343938751@c.us", "starts with 0"),
            ("00079161234567@c.us", "starts with 0"),
            ("343938752@c.us", "9 digits before @c.us"),
            ("4791234567@x.us", "not a chat id"),
            ("123@c.us", "short code"),
            ("7900123456789012@c.us", "more than 15"),
        ] {
            let err = ChatId::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn body_matches_the_documented_shape() {
        let r = Request {
            chat_id: ChatId::Personal(11001234567),
            phone_contact: phone::parse("79001234568").unwrap(),
            first_name: "Artem".into(),
            middle_name: "".into(),
            last_name: "Evpatoriysky".into(),
            company: "".into(),
            quoted_message_id: "",
        };
        assert_eq!(
            String::from_utf8(r.body()).unwrap(),
            r#"{"chatId":"11001234567@c.us","contact":{"phoneContact":79001234568,"firstName":"Artem","lastName":"Evpatoriysky"}}"#
        );
    }

    #[test]
    fn key_depends_on_content_not_on_the_quote() {
        let a = Request {
            chat_id: ChatId::Personal(11001234567),
            phone_contact: phone::parse("79001234568").unwrap(),
            first_name: "Ann".into(),
            middle_name: "".into(),
            last_name: "".into(),
            company: "".into(),
            quoted_message_id: "",
        };
        let b = Request {
            first_name: "Anna".into(),
            ..a.clone()
        };
        let c = Request {
            quoted_message_id: "ABC",
            ..a.clone()
        };
        // Pinned: ledgers and histories written by earlier versions must keep matching.
        assert_eq!(
            a.card_key(),
            CardKey(xxhash_rust::xxh3::xxh3_128(
                b"11001234567@c.us\x1f79001234568"
            ))
        );
        assert_eq!(
            a.card_key(),
            b.card_key(),
            "names are not the card's identity"
        );
        assert_eq!(
            a.key(),
            ContentKey(xxhash_rust::xxh3::xxh3_128(
                b"11001234567@c.us\x1f79001234568\x1fAnn\x1f\x1f\x1f"
            ))
        );
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key(), c.key());
        assert_eq!(a.key().to_string().parse::<ContentKey>(), Ok(a.key()));
        let group = Request {
            chat_id: ChatId::Group("120363043968066561@g.us".into()),
            ..a.clone()
        };
        let long = Request {
            company: "x".repeat(200).into(),
            ..a.clone()
        };
        assert!(a.short_key().is_some() && long.short_key().is_none());
        assert_eq!(a.short_key(), Some(a.long_key()));
        for request in [&a, &b, &group, &long] {
            let names = [
                &*request.first_name,
                &request.middle_name,
                &request.last_name,
                &request.company,
            ];
            let of = ContentKey::of(&request.chat_id, request.phone_contact.get(), names);
            assert_eq!(request.key(), of, "{request:?}");
            let card = CardKey::of(&request.chat_id, request.phone_contact.get());
            assert_eq!(request.card_key(), card, "{request:?}");
        }
    }
}
