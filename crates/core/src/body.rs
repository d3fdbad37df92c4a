//! How a request body becomes its type: the request types' `Deserialize` impls are the one check of
//! a body's shape, built from the pieces here, and [`from_value`] names the part at fault by its
//! path (`fields[1]: must be a field path (a string), found a number`).
//!
//! serde's own messages ("invalid type: string \"yes\", expected a boolean") are not the API's, so
//! each value here is read by a visitor that takes its one JSON type and names any other one
//! ("found a string").

use crate::export::RequestError;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Deserializes a request body, naming the part at fault by its path: `path: what is wrong`, or
/// just what is wrong for the body as a whole.
pub fn from_value<T: DeserializeOwned>(body: &serde_json::Value) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." { RequestError(inner.to_string()) } else { RequestError(format!("{path}: {inner}")) }
    })
}

/// A value read from a body: the JSON types it takes; any other is refused as "must be
/// [`Self::WHAT`], found …". Read with [`read`].
pub(crate) trait Accept<'de>: Sized {
    /// What the value must be, as the message says it.
    const WHAT: &'static str;
    /// Said before "must be" (e.g. "the body ").
    const SUBJECT: &'static str = "";

    fn null() -> Option<Self> {
        None
    }
    fn boolean(_: bool) -> Option<Self> {
        None
    }
    fn text<E: de::Error>(_: &str) -> Option<Result<Self, E>> {
        None
    }
    fn list<A: SeqAccess<'de>>(_: A) -> Option<Result<Self, A::Error>> {
        None
    }
    fn object<A: MapAccess<'de>>(_: A) -> Option<Result<Self, A::Error>> {
        None
    }
}

/// Reads one [`Accept`] value.
pub(crate) fn read<'de, T: Accept<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_any(Expect(PhantomData))
}

struct Expect<T>(PhantomData<T>);

impl<T> Expect<T> {
    fn refuse<'de, E: de::Error>(found: &str) -> E
    where
        T: Accept<'de>,
    {
        E::custom(format_args!("{}must be {}, found {found}", T::SUBJECT, T::WHAT))
    }
}

impl<'de, T: Accept<'de>> Visitor<'de> for Expect<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::WHAT)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::boolean(v).ok_or_else(|| Self::refuse("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::text(v).unwrap_or_else(|| Err(Self::refuse("a string")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::null().ok_or_else(|| Self::refuse("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::list(seq).unwrap_or_else(|| Err(Self::refuse("a list")))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map).unwrap_or_else(|| Err(Self::refuse("an object")))
    }
}

/// Reads a body object's entries: `take` reads the value of each of the `known` keys; any other
/// key is skipped and, if there were any, `unknown` says what is wrong, naming them all. Once one
/// unknown key is seen, the rest of the object is only read for that message.
pub(crate) fn read_object<'de, A: MapAccess<'de>>(
    mut map: A,
    known: &[&str],
    mut take: impl FnMut(&str, &mut A) -> Result<(), A::Error>,
    unknown: impl FnOnce(&[String]) -> String,
) -> Result<(), A::Error> {
    let mut strangers = Vec::new();
    while let Some(key) = map.next_key::<String>()? {
        if strangers.is_empty() && known.contains(&key.as_str()) {
            take(&key, &mut map)?;
            continue;
        }
        map.next_value::<IgnoredAny>()?;
        if !known.contains(&key.as_str()) {
            strangers.push(key);
        }
    }
    if strangers.is_empty() { Ok(()) } else { Err(de::Error::custom(unknown(&strangers))) }
}

/// `true` or `false`; null or absent is none.
pub(crate) struct Flag(pub Option<bool>);

impl<'de> Accept<'de> for Flag {
    const WHAT: &'static str = "true or false";
    fn null() -> Option<Self> {
        Some(Flag(None))
    }
    fn boolean(b: bool) -> Option<Self> {
        Some(Flag(Some(b)))
    }
}

/// A non-empty string ("empty" otherwise).
pub(crate) struct Text(pub String);

impl<'de> Accept<'de> for Text {
    const WHAT: &'static str = "a string";
    fn text<E: de::Error>(s: &str) -> Option<Result<Self, E>> {
        Some(if s.is_empty() { Err(E::custom("empty")) } else { Ok(Text(s.to_string())) })
    }
}

/// A list of [`Accept`] items, each read in turn (its index in the path of a fault).
pub(crate) fn read_list<'de, T: Accept<'de>, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<T>, A::Error> {
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    while let Some(Item(item)) = seq.next_element::<Item<T>>()? {
        items.push(item);
    }
    Ok(items)
}

/// An [`Accept`] value as a list element.
struct Item<T>(T);

impl<'de, T: Accept<'de>> de::Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer).map(Item)
    }
}

/// Names keys as the messages do: `"a"`, `"a", "b"`.
pub(crate) fn quoted(keys: &[String]) -> String {
    keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
}

// The request bodies of the API (crate::api), each read by its one check.

use crate::api::{CreateExportRequest, LoginRequest, ShareRequest, VerifyRequest};
use crate::export::MAX_SHARE_IDS;

// The request types' `Deserialize`: their one check.
macro_rules! deserialize_via_accept {
    ($($t:ty),*) => {$(
        impl<'de> de::Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read(deserializer)
            }
        }
    )*};
}
deserialize_via_accept!(CreateExportRequest, ShareRequest, LoginRequest, VerifyRequest);

/// A field path in `fields`.
struct FieldPath(String);

impl<'de> Accept<'de> for FieldPath {
    const WHAT: &'static str = "a field path (a string)";
    fn text<E: de::Error>(s: &str) -> Option<Result<Self, E>> {
        Some(Ok(FieldPath(s.to_string())))
    }
}

/// `fields`: a list of field paths; null or absent is none.
struct FieldPaths(Option<Vec<String>>);

impl<'de> Accept<'de> for FieldPaths {
    const WHAT: &'static str = "a list of field paths";
    fn null() -> Option<Self> {
        Some(FieldPaths(None))
    }
    fn list<A: SeqAccess<'de>>(seq: A) -> Option<Result<Self, A::Error>> {
        Some(read_list::<FieldPath, A>(seq).map(|paths| FieldPaths(Some(paths.into_iter().map(|p| p.0).collect()))))
    }
}

impl<'de> Accept<'de> for CreateExportRequest {
    const WHAT: &'static str = "a JSON object";
    const SUBJECT: &'static str = "the body ";
    fn object<A: MapAccess<'de>>(map: A) -> Option<Result<Self, A::Error>> {
        let (mut query, mut include_images, mut fields) = (None, None, None);
        let read = read_object(
            map,
            &["query", "include_images", "fields"],
            |key, map| {
                match key {
                    "query" => query = Some(map.next_value()?),
                    "include_images" => include_images = map.next_value_seed(Seed::<Flag>::new())?.0,
                    _ => fields = map.next_value_seed(Seed::<FieldPaths>::new())?.0,
                }
                Ok(())
            },
            |keys| {
                let s = if keys.len() == 1 { "" } else { "s" };
                format!("unknown key{s} {}; a request has \"query\", \"include_images\" and \"fields\"", quoted(keys))
            },
        );
        Some(read.and_then(|()| {
            let query = query.ok_or_else(|| de::Error::custom("query: missing; e.g. {\"method\": \"ALL\"}"))?;
            Ok(CreateExportRequest { query, include_images, fields })
        }))
    }
}

/// A user id in `user_ids`: not blank.
struct UserId(String);

impl<'de> Accept<'de> for UserId {
    const WHAT: &'static str = "a user id (a string)";
    fn text<E: de::Error>(s: &str) -> Option<Result<Self, E>> {
        Some(if s.trim().is_empty() { Err(E::custom("empty user id")) } else { Ok(UserId(s.to_string())) })
    }
}

/// `user_ids`: one to [`MAX_SHARE_IDS`] ids, repeats dropped.
struct UserIds(Vec<String>);

impl<'de> Accept<'de> for UserIds {
    const WHAT: &'static str = "a list of user ids";
    fn list<A: SeqAccess<'de>>(seq: A) -> Option<Result<Self, A::Error>> {
        Some(read_list::<UserId, A>(seq).and_then(|ids| {
            if ids.is_empty() {
                return Err(de::Error::custom("the list is empty"));
            }
            if ids.len() > MAX_SHARE_IDS {
                return Err(de::Error::custom(format_args!(
                    "at most {MAX_SHARE_IDS} ids at once, found {}",
                    ids.len()
                )));
            }
            let mut user_ids: Vec<String> = Vec::with_capacity(ids.len());
            for UserId(id) in ids {
                if !user_ids.contains(&id) {
                    user_ids.push(id);
                }
            }
            Ok(UserIds(user_ids))
        }))
    }
}

impl<'de> Accept<'de> for ShareRequest {
    const WHAT: &'static str = "a JSON object";
    const SUBJECT: &'static str = "the body ";
    fn object<A: MapAccess<'de>>(map: A) -> Option<Result<Self, A::Error>> {
        let mut user_ids = None;
        let read = read_object(
            map,
            &["user_ids"],
            |_, map| {
                user_ids = Some(map.next_value_seed(Seed::<UserIds>::new())?.0);
                Ok(())
            },
            |keys| format!("unknown key {:?}; the body is {{\"user_ids\": [...]}}", keys[0]),
        );
        Some(read.and_then(|()| {
            let user_ids =
                user_ids.ok_or_else(|| de::Error::custom("user_ids: missing; the body is {\"user_ids\": [...]}"))?;
            Ok(ShareRequest { user_ids })
        }))
    }
}

impl<'de> Accept<'de> for LoginRequest {
    const WHAT: &'static str = "a JSON object";
    const SUBJECT: &'static str = "the body ";
    fn object<A: MapAccess<'de>>(map: A) -> Option<Result<Self, A::Error>> {
        const SHAPE: &str = "the body is {\"username\": \"...\", \"password\": \"...\"}";
        let (mut username, mut password) = (None, None);
        let read = read_object(
            map,
            &["username", "password"],
            |key, map| {
                let text = map.next_value_seed(Seed::<Text>::new())?.0;
                if key == "username" {
                    username = Some(text)
                } else {
                    password = Some(text)
                }
                Ok(())
            },
            |keys| format!("unknown key {:?}; {SHAPE}", keys[0]),
        );
        let missing = |key: &str| de::Error::custom(format_args!("{key}: missing; {SHAPE}"));
        Some(read.and_then(|()| {
            Ok(LoginRequest {
                username: username.ok_or_else(|| missing("username"))?,
                password: password.ok_or_else(|| missing("password"))?,
            })
        }))
    }
}

impl<'de> Accept<'de> for VerifyRequest {
    const WHAT: &'static str = "a JSON object";
    const SUBJECT: &'static str = "the body ";
    fn object<A: MapAccess<'de>>(map: A) -> Option<Result<Self, A::Error>> {
        let mut token = None;
        let read = read_object(
            map,
            &["token"],
            |_, map| {
                token = Some(map.next_value_seed(Seed::<Text>::new())?.0);
                Ok(())
            },
            |keys| format!("unknown key {:?}; the body is {{\"token\": \"...\"}}", keys[0]),
        );
        Some(read.and_then(|()| {
            let token = token.ok_or_else(|| de::Error::custom("token: missing; the body is {\"token\": \"...\"}"))?;
            Ok(VerifyRequest { token })
        }))
    }
}

/// Reads an [`Accept`] value as a map's value.
struct Seed<T>(PhantomData<T>);

impl<T> Seed<T> {
    fn new() -> Self {
        Seed(PhantomData)
    }
}

impl<'de, T: Accept<'de>> de::DeserializeSeed<'de> for Seed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        read(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use crate::api::{CreateExportRequest, ShareRequest, VerifyRequest};
    use serde_json::{Value, json};

    fn create(v: Value) -> String {
        CreateExportRequest::from_json(&v).unwrap_err().0
    }

    #[test]
    fn each_fault_is_named_by_its_path_in_the_apis_words() {
        assert_eq!(create(json!(null)), "the body must be a JSON object, found null");
        assert_eq!(create(json!(true)), "the body must be a JSON object, found a boolean");
        assert_eq!(create(json!({"include_images": true})), "query: missing; e.g. {\"method\": \"ALL\"}");
        assert_eq!(
            create(json!({"query": {}, "include_images": 1})),
            "include_images: must be true or false, found a number"
        );
        assert_eq!(
            create(json!({"query": {}, "fields": {}})),
            "fields: must be a list of field paths, found an object"
        );
        assert_eq!(
            create(json!({"query": {}, "fields": ["a", null]})),
            "fields[1]: must be a field path (a string), found null"
        );
        // Every unknown key is named, whatever follows it.
        assert_eq!(
            create(json!({"x": 1, "include_images": "no", "y": 2})),
            "unknown keys \"x\", \"y\"; a request has \"query\", \"include_images\" and \"fields\""
        );
        let nulls: CreateExportRequest =
            crate::body::from_value(&json!({"query": 1, "include_images": null, "fields": null})).unwrap();
        assert_eq!((nulls.include_images, nulls.fields), (None, None));

        let share = |v: Value| ShareRequest::from_json(&v).unwrap_err().0;
        assert_eq!(share(json!({"user_ids": ["a", " "]})), "user_ids[1]: empty user id");
        assert_eq!(share(json!({})), "user_ids: missing; the body is {\"user_ids\": [...]}");
        assert_eq!(share(json!({"user_ids": null})), "user_ids: must be a list of user ids, found null");
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        assert_eq!(share(json!({"user_ids": many})), "user_ids: at most 1000 ids at once, found 1001");

        let verify = |v: Value| VerifyRequest::from_json(&v).unwrap_err().0;
        assert_eq!(verify(json!({})), "token: missing; the body is {\"token\": \"...\"}");
        assert_eq!(verify(json!({"token": ""})), "token: empty");
        assert_eq!(verify(json!({"token": 5})), "token: must be a string, found a number");
        assert_eq!(verify(json!({"token": "t", "x": 1})), "unknown key \"x\"; the body is {\"token\": \"...\"}");
        assert_eq!(VerifyRequest::from_json(&json!({"token": "t"})).unwrap().token, "t");
    }
}
